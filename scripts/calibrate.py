"""Derive llmfit's calibration tables from the published measurements in tests/data/.

  python scripts/calibrate.py          print the fitted values and the tables
  python scripts/calibrate.py --write  rewrite llmfit/data/quants.csv and efficiency.csv

Weights: bits per weight of the "body" tensors of each llama.cpp file type, fitted to the
Llama-3-8B whole-file sizes in gguf-sizes.csv, given that llama.cpp stores token_embd at the
file type's base block type and output.weight at Q6_K (Q8_0/F16 files: their own type).
Speed: decode time per token = bytes read / (e_max x bandwidth) + layers x t_layer, with
(e_max, t_layer) fitted per device class on calibration.csv (Llama-2-7B Q4_0, 32 layers) by
least squares on relative error.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
OUT = ROOT / "llmfit" / "data"
GIB = 2**30

# Llama-3-8B, from its config.json: vocab 128256, hidden 4096, untied output.
LLAMA3_8B_PARAMS = 8.03e9
LLAMA3_8B_EMBED = 128256 * 4096
# Llama-2-7B: vocab 32000, hidden 4096, 32 layers, untied.
LLAMA2_7B_EMBED = 32000 * 4096
LLAMA2_7B_LAYERS = 32

# Block bits per weight of llama.cpp tensor types (estimation.md section 1).
BLOCK_BPW = {"Q2_K": 2.625, "Q3_K": 3.4375, "Q4_0": 4.5, "Q4_K": 4.5, "Q5_K": 5.5,
             "Q6_K": 6.5625, "Q8_0": 8.5, "F16": 16.0, "Q5_0": 5.5, "IQ4_XS": 4.25}
# File type -> (base type of token_embd, type of output.weight)
FILE_TYPES = {"Q2_K": ("Q2_K", "Q6_K"), "Q3_K_M": ("Q3_K", "Q6_K"), "Q4_0": ("Q4_0", "Q6_K"),
              "Q4_K_M": ("Q4_K", "Q6_K"), "Q5_K_M": ("Q5_K", "Q6_K"), "Q6_K": ("Q6_K", "Q6_K"),
              "Q8_0": ("Q8_0", "Q8_0"), "F16": ("F16", "F16")}
# Quality penalty (score points) per file type: larger for stronger quantization.
QUALITY_PENALTY = {"F16": 0, "BF16": 0, "Q8_0": 0, "Q6_K": 1, "Q5_K_M": 2, "Q5_0": 3,
                   "Q4_K_M": 4, "IQ4_XS": 5, "Q4_0": 6, "Q3_K_M": 10, "Q2_K": 20}

DEVICE_CLASSES = ("apple", "gpu", "datacenter")


def read_csv(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def fit_body_bpw() -> dict[str, float]:
    """Bits per weight of the non-embedding tensors for each file type in gguf-sizes.csv."""
    fitted = {}
    for row in read_csv(DATA / "gguf-sizes.csv"):
        if row["model"] != "Llama-3-8B":
            continue
        embed_type, output_type = FILE_TYPES[row["quant"]]
        total_bits = float(row["file_gib"]) * GIB * 8
        fixed = LLAMA3_8B_EMBED * (BLOCK_BPW[embed_type] + BLOCK_BPW[output_type])
        fitted[row["quant"]] = (total_bits - fixed) / (LLAMA3_8B_PARAMS - 2 * LLAMA3_8B_EMBED)
    return fitted


def quant_rows() -> list[dict[str, object]]:
    """The rows of llmfit/data/quants.csv."""
    body = fit_body_bpw()
    rows: list[dict[str, object]] = []
    for name, (embed_type, output_type) in FILE_TYPES.items():
        rows.append(_quant("llamacpp", name, round(body[name], 3), BLOCK_BPW[embed_type],
                           BLOCK_BPW[output_type], "fitted: gguf-sizes.csv Llama-3-8B"))
    rows.append(_quant("llamacpp", "Q5_0", 5.5, 5.5, 6.5625, "block size (estimation.md)"))
    rows.append(_quant("llamacpp", "IQ4_XS", 4.25, 4.25, 6.5625, "block size (estimation.md)"))
    rows.append(_quant("llamacpp", "BF16", 16.0, 16.0, 16.0, "block size (estimation.md)"))
    # gpt-oss GGUF: MXFP4 experts, other tensors Q8_0 (11.27 GiB for 20.9B, estimation.md).
    rows.append(_quant("any", "MXFP4", 4.25, 8.5, 8.5, "MXFP4 experts, Q8_0 rest", 2, 8.5))
    for bits, penalty in ((8, 0), (6, 1), (4, 4)):
        # MLX affine quantization, group 64: one fp16 scale and bias per group (+0.5 bpw).
        rows.append(_quant("mlx", f"mlx-{bits}bit", bits + 0.5, bits + 0.5, bits + 0.5,
                           "MLX group 64 (estimation.md)", penalty))
    rows.append(_quant("vllm", "FP8", 8.0, 16.0, 16.0, "FP8 e4m3 weights, BF16 embeddings", 1))
    # int4 packed in int32 + fp16 scale and 4-bit zero per group of 128: 4 + 20/128 bits.
    for name in ("AWQ", "GPTQ"):
        rows.append(_quant("vllm", name, 4.156, 16.0, 16.0, "int4 g128 real bytes", 5))
    return rows


def _quant(runtime: str, name: str, body: float, embed: float, output: float, source: str,
           penalty: int | None = None, dense_bpw: float | None = None) -> dict[str, object]:
    return {"quant": name, "runtime": runtime, "body_bpw": body, "embed_bpw": embed,
            "output_bpw": output, "dense_bpw": dense_bpw if dense_bpw is not None else body,
            "quality_penalty": QUALITY_PENALTY.get(name, 0) if penalty is None else penalty,
            "source": source}


def device_class(device: str, backend: str) -> str:
    """Calibration class of a device in calibration.csv."""
    if backend == "Metal":
        return "apple"
    return "datacenter" if any(t in device for t in ("A100", "H100")) else "gpu"


def calibration_points() -> list[tuple[str, str, float, float]]:
    """(device, class, bandwidth GB/s, measured tokens/s) for each calibration row."""
    points = []
    for row in read_csv(DATA / "calibration.csv"):
        bandwidth = float(row["memory_bandwidth_gbps"].split("-")[-1])
        cls = device_class(row["device"], row["backend"])
        points.append((row["device"], cls, bandwidth, float(row["tg_tps"])))
    return points


def calibration_bytes_read() -> float:
    """Bytes Llama-2-7B Q4_0 reads per generated token: the file less the token embedding."""
    return 3.56 * GIB - LLAMA2_7B_EMBED * 4.5 / 8


def fit_class(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Fit t = x / e + c (x = bytes / bandwidth) minimising squared relative error."""
    # Weighted least squares with weights 1/t^2 on the line t = a x + c.
    w = [1 / t**2 for _, t in points]
    sw = sum(w)
    sx = sum(wi * x for wi, (x, _) in zip(w, points))
    sy = sum(wi * t for wi, (_, t) in zip(w, points))
    sxx = sum(wi * x * x for wi, (x, _) in zip(w, points))
    sxy = sum(wi * x * t for wi, (x, t) in zip(w, points))
    a = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    c = (sy - a * sx) / sw
    return 1 / a, c


def efficiency_rows() -> list[dict[str, object]]:
    """The rows of llmfit/data/efficiency.csv."""
    byte_count = calibration_bytes_read()
    rows: list[dict[str, object]] = []
    for cls in DEVICE_CLASSES:
        pts = [(byte_count / (bw * 1e9), 1 / tps) for _, c, bw, tps in calibration_points()
               if c == cls]
        e_max, c = fit_class(pts)
        rows.append({"device_class": cls, "e_max": round(e_max, 4),
                     "t_layer_ms": round(c * 1e3 / LLAMA2_7B_LAYERS, 4),
                     "source": f"fitted on {len(pts)} rows of calibration.csv"})
    # No CPU rows in calibration.csv: an assumption, reported as such in estimate_basis.
    rows.append({"device_class": "cpu", "e_max": 0.55, "t_layer_ms": 0.05,
                 "source": "assumed (no CPU measurements in calibration.csv)"})
    return rows


def write_csv(path: Path, rows: list[dict[str, object]], header: str) -> None:
    with path.open("w", newline="") as fh:
        fh.write(header)
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


QUANTS_HEADER = ("# Bits per weight by tensor group for each quantization llmfit considers.\n"
                 "# Generated by scripts/calibrate.py; see its docstring for the method.\n")
EFFICIENCY_HEADER = ("# Decode-speed model per device class: t = bytes/(e_max*bandwidth) + "
                     "layers*t_layer.\n# Generated by scripts/calibrate.py from calibration.csv.\n")


def main(argv: list[str]) -> int:
    quants, efficiency = quant_rows(), efficiency_rows()
    for row in quants + efficiency:
        print(row)
    if "--write" in argv:
        write_csv(OUT / "quants.csv", quants, QUANTS_HEADER)
        write_csv(OUT / "efficiency.csv", efficiency, EFFICIENCY_HEADER)
        print("wrote", OUT / "quants.csv", OUT / "efficiency.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

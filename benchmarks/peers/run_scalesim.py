"""Feed SCALE-Sim 3.0.0 the peer cases and record what it reports.

Runs INSIDE the SCALE-Sim venv (see setup_peers.sh); imports only the standard
library and scalesim (which brings numpy itself):

    runs/peers/scalesim/bin/python benchmarks/peers/run_scalesim.py \
        benchmarks/peers/cases.json tests/golden/peers/scalesim_3.0.0.json

Input: the "scalesim" object of cases.json:

    {"scalesim": {
        "array": {"rows": 32, "cols": 32, "dataflow": "ws"},
        "layers": {NAME: {"ifmap_h": int, "ifmap_w": int,   # as fed to SCALE-Sim
                          "R": int, "S": int, "C": int, "K": int, "stride": int,
                          "out": int,                      # intended P = Q
                          "brief_ifmap_h": int (optional), # size the brief gave
                          "note": str (optional)}, ...},
        "runs": [{"name": str,
                  "layers": [NAME, ...],
                  "input_type": "conv" | "gemm",  # gemm: layer must be 1x1 ifmap/filter;
                                                  # fed as M=ifmap_h*ifmap_w, N=K, K=R*S*C
                  "sram_kb": {"ifmap": int, "filter": int, "ofmap": int},
                  "bandwidth_words_per_cycle": int}, ...]}}

Every layer of every run is simulated by its own scalesim() object in its own
temp folder (config .cfg, topology .csv and an empty layout .csv written
there). SCALE-Sim's word size is hard-wired to 1 byte (single_layer_sim.py:238).
In USER bandwidth mode SCALE-Sim takes the IFMAP/filter DRAM bandwidth from the
[layout] keys IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth and only the OFMAP
bandwidth from [architecture_presets] Bandwidth (single_layer_sim.py:250-254), so
all three are set to bandwidth_words_per_cycle.

Output: {"peer": "scalesim", "version": <installed>, "runs": [{"name", "config",
"layers": {NAME: {...reported values..., "formula": {...}, "wall_s"}}}]}.
"formula" is the per-fold cycle count read from the source (see RULES.md, S-rules):
  compute_cycles = row_folds * col_folds * (2*rows + cols + T - 2) - 1
SCALE-Sim's reported "Total Cycles" (recorded as compute_cycles) = formula + stall cycles.
with row_folds = ceil(R*S*C / rows), col_folds = ceil(K / cols), T = P*Q.
"""
import contextlib
import csv
import io
import json
import math
import os
import sys
import tempfile
import time
from importlib.metadata import version

from scalesim.scale_sim import scalesim
from scalesim.topology_utils import topologies

DEPS = ["scalesim", "numpy", "tqdm"]

CFG = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {ifmap_kb}
FilterSramSzkB : {filter_kb}
OfmapSramSzkB : {ofmap_kb}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : {bw}
Dataflow : {df}
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : {bw}
IfmapSRAMBankNum : 1
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : {bw}
FilterSRAMBankNum : 1
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : USER
UseRamulatorTrace : False
"""


def read_csv(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    head = [h.strip() for h in rows[0] if h.strip()]
    vals = [v.strip() for v in rows[1] if v.strip()]
    return dict(zip(head, vals, strict=False))


def num(s):
    x = float(s)
    return int(x) if x == int(x) else x


def scalesim_ofmap(h, w, r, s, stride):
    """Ofmap dims exactly as SCALE-Sim computes them (topology_utils.py:285-286)."""
    t = topologies()
    t.topo_arrays = [["x", h, w, r, s, 1, 1, stride, stride, 1, 1]]
    t.topo_load_flag = True
    t.topo_calc_hyperparams()
    return t.layers_calculated_hyperparams[0][0:2]


def run_layer(name, layer, run, array):
    rows, cols = array["rows"], array["cols"]
    bw = run["bandwidth_words_per_cycle"]
    gemm = run.get("input_type", "conv") == "gemm"
    with tempfile.TemporaryDirectory(prefix="scalesim_") as tmp:
        cfg = os.path.join(tmp, "run.cfg")
        topo = os.path.join(tmp, "topo.csv")
        lay = os.path.join(tmp, "layout.csv")
        with open(cfg, "w") as f:
            f.write(CFG.format(run_name="r", rows=rows, cols=cols, df=array["dataflow"],
                               ifmap_kb=run["sram_kb"]["ifmap"],
                               filter_kb=run["sram_kb"]["filter"],
                               ofmap_kb=run["sram_kb"]["ofmap"], bw=bw))
        with open(topo, "w") as f:
            if gemm:
                assert layer["R"] == layer["S"] == 1 and layer["ifmap_h"] == layer["ifmap_w"] == 1
                f.write("Layer, M, N, K,\n")
                f.write(f"{name}, {layer['ifmap_h'] * layer['ifmap_w']}, {layer['K']}, "
                        f"{layer['R'] * layer['S'] * layer['C']},\n")
            else:
                f.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                        "Channels, Num Filter, Strides,\n")
                f.write(f"{name}, {layer['ifmap_h']}, {layer['ifmap_w']}, {layer['R']}, "
                        f"{layer['S']}, {layer['C']}, {layer['K']}, {layer['stride']},\n")
        with open(lay, "w") as f:  # layout file must exist; unused (custom layout off)
            f.write("Layer name,\n")
        t0 = time.time()
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
                         layout=lay, input_type_gemm=gemm)
            s.run_scale(top_path=os.path.join(tmp, "out"))
        wall = time.time() - t0
        rep = os.path.join(tmp, "out", "r")
        comp = read_csv(os.path.join(rep, "COMPUTE_REPORT.csv"))
        bwr = read_csv(os.path.join(rep, "BANDWIDTH_REPORT.csv"))
        det = read_csv(os.path.join(rep, "DETAILED_ACCESS_REPORT.csv"))
        # Quantities SCALE-Sim derived internally (same object the reports came from).
        lsim = s.runner.single_layer_sim_object_list[0]
        cs = lsim.compute_system
        sr, sc, t = cs.Sr, cs.Sc, cs.T
        row_folds, col_folds = cs.row_fold, cs.col_fold
        oh, ow = lsim.op_mat_obj.ofmap_rows, lsim.op_mat_obj.ofmap_cols

    per_fold = 2 * rows + cols + t - 2
    formula = {
        "Sr_rows_im2col_RSC": sr, "Sc_cols_K": sc, "T_PQ": t,
        "row_folds": row_folds, "col_folds": col_folds, "folds": row_folds * col_folds,
        "cycles_per_fold": per_fold,
        "compute_cycles": row_folds * col_folds * per_fold - 1,
        "sram_ifmap_reads": t * sr * col_folds,
        "sram_filter_reads": sr * sc,
        "sram_ofmap_writes": t * sc * row_folds,
        "dram_ifmap_reads_if_all_fits": math.ceil(t * row_folds * rows / bw) * bw,
        "dram_filter_reads_if_all_fits": math.ceil(sr * col_folds * cols / bw) * bw,
        "macs": t * sr * sc,
    }
    out = {
        "fed": dict(layer, input_type="gemm" if gemm else "conv"),
        "ofmap_hw_scalesim": [oh, ow],
        "total_cycles_incl_prefetch": num(comp["Total Cycles (incl. prefetch)"]),
        "compute_cycles": num(comp["Total Cycles"]),
        "stall_cycles": num(comp["Stall Cycles"]),
        "overall_util_pct": num(comp["Overall Util %"]),
        "mapping_efficiency_pct": num(comp["Mapping Efficiency %"]),
        "compute_util_pct": num(comp["Compute Util %"]),
        "row_folds": row_folds, "col_folds": col_folds,
        "sram_ifmap_reads": num(det["SRAM IFMAP Reads"]),
        "sram_filter_reads": num(det["SRAM Filter Reads"]),
        "sram_ofmap_writes": num(det["SRAM OFMAP Writes"]),
        "dram_ifmap_reads": num(det["DRAM IFMAP Reads"]),
        "dram_filter_reads": num(det["DRAM Filter Reads"]),
        "dram_ofmap_writes": num(det["DRAM OFMAP Writes"]),
        "detailed_access_report": {k: num(v) for k, v in det.items()},
        "bandwidth_report_words_per_cycle": {k: num(v) for k, v in bwr.items()},
        "formula": formula,
        # SCALE-Sim's "Total Cycles" already includes the stall cycles it reports
        "formula_plus_stall_cycles": formula["compute_cycles"] + num(comp["Stall Cycles"]),
        "formula_matches_compute_cycles":
            formula["compute_cycles"] + num(comp["Stall Cycles"]) == num(comp["Total Cycles"]),
        "wall_s": round(wall, 2),
    }
    if "brief_ifmap_h" in layer:
        out["ofmap_hw_scalesim_for_brief_ifmap"] = scalesim_ofmap(
            layer["brief_ifmap_h"], layer.get("brief_ifmap_w", layer["brief_ifmap_h"]),
            layer["R"], layer["S"], layer["stride"])
    return out


def main():
    cases_path, out_path = sys.argv[1], sys.argv[2]
    with open(cases_path) as f:
        cases = json.load(f)["scalesim"]
    array = cases["array"]
    result = {"peer": "scalesim", "version": version("scalesim"),
              "deps": {d: version(d) for d in DEPS}, "python": sys.version.split()[0],
              "array": array, "word_size_bytes": 1, "runs": []}
    t_all = time.time()
    for run in cases["runs"]:
        r = {"name": run["name"], "config": {k: v for k, v in run.items() if k != "layers"},
             "layers": {}}
        for name in run["layers"]:
            res = run_layer(name, cases["layers"][name], run, array)
            r["layers"][name] = res
            f = res["formula"]
            print(f"{run['name']:>14} {name:<16} compute={res['compute_cycles']:>8} "
                  f"formula={f['compute_cycles']:>8} +stall={res['formula_plus_stall_cycles']:>8} "
                  f"{'OK ' if res['formula_matches_compute_cycles'] else 'BAD'} "
                  f"stall={res['stall_cycles']:>7} folds={f['row_folds']}x{f['col_folds']} "
                  f"T={f['T_PQ']} wall={res['wall_s']}s", flush=True)
        result["runs"].append(r)
    result["wall_s_total"] = round(time.time() - t_all, 1)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")


if __name__ == "__main__":
    main()

"""Feed ZigZag 3.9.1 the peer cases and record what it reports.

Runs INSIDE the ZigZag venv (see setup_peers.sh); imports only the standard
library, PyYAML (a ZigZag dependency) and zigzag:

    runs/peers/zigzag/bin/python benchmarks/peers/run_zigzag.py \
        benchmarks/peers/cases.json tests/golden/peers/zigzag_3.9.1.json

Input: the "zigzag" object of cases.json:

    {"zigzag": {
      "accelerators": {ACC: {
          "operational_array": {...ZigZag's own keys: dimensions, sizes,
                                unit_energy (pJ/MAC), unit_area, systolic_dimensions},
          "memories": [   # LOWEST level first (ZigZag requires that order)
             {"name": str, "size_bits": int, "operands": ["I1"|"I2"|"O", ...],
              "served_dimensions": ["D1", ...],    # [] = one instance per PE
              "word_bits": int,                    # = ZigZag bandwidth_min (access granularity)
              "pJ_per_word_read": float, "pJ_per_word_write": float,
              "ports": [{"name": "r_port_1", "type": "read"|"write"|"read_write",
                         "bw_bits": int,           # = ZigZag bandwidth_max (bits/cycle)
                         "allocation": ["I2, tl", ...]}]}, ...]}},
      "cases": [{"name": str, "accelerator": ACC, "note": str,
                 "layers": [{"name": str,
                   "dims": {"B":..,"K":..,"C":..,"OY":..,"OX":..,"FY":..,"FX":..},
                   "stride": int, "padding": [[iy_lo, iy_hi], [ix_lo, ix_hi]],
                   "precision": {"W":..,"I":..,"O":.. (partial sums),"O_final":..},
                   "spatial_mapping": {"D1": ["C, 32"], "D2": ["K, 32"]},
                   "temporal_outer_first": [["K", 2], ...],   # full loop order, outermost first
                   "levels_requested": {...}                 # the brief's split, for the record
                 }]}]}}

ZigZag's r_cost/w_cost are energies per access of one port width (bandwidth_max bits;
cost_model.py:536-541 counts accesses in those units, rounded up in bandwidth_min
units), so the runner writes r_cost = pJ_per_word_read * bw_bits / word_bits. Every port
of one memory must have the same width for that to be exact (checked).

Each layer runs through zigzag.api.get_hardware_performance_zigzag with a complete
temporal_ordering in the mapping file; with a complete ordering ZigZag skips the LOMA
search and only runs its MemoryAllocator on that one ordering
(stages/mapping/temporal_mapping_generator_stage.py:61-74), so the loop ORDER is pinned
but the split of loops over memory levels is ZigZag's (capacity driven); the output
records the split it chose ("temporal_mapping_per_level").

Output: {"peer": "zigzag", "version": <installed>, "cases": [{"name", "layers": {NAME:
{energy, latency, per operand and level: memory, word accesses (in port-width words as
ZigZag counts them), the same in bits, element move counts, energy per direction,
temporal mapping as allocated and after ZigZag's stationarity merge-down, ...}}}]}.
"""
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
from importlib.metadata import version

import yaml
from zigzag.api import get_hardware_performance_zigzag
from zigzag.mapping.data_movement import DataDirection, DataMoveAttr

DEPS = ["zigzag-dse", "numpy", "networkx", "sympy", "PyYAML", "Cerberus", "onnx", "six"]

DIRS = [DataDirection.RD_OUT_TO_LOW, DataDirection.WR_IN_BY_LOW,
        DataDirection.RD_OUT_TO_HIGH, DataDirection.WR_IN_BY_HIGH]


def acc_yaml(name, acc):
    mems = {}
    for m in acc["memories"]:
        bws = {p["bw_bits"] for p in m["ports"]}
        assert len(bws) == 1, f"{m['name']}: all ports must have one width"
        bw = bws.pop()
        scale = bw / m["word_bits"]
        mems[m["name"]] = {
            "size": m["size_bits"],
            "r_cost": m["pJ_per_word_read"] * scale,
            "w_cost": m["pJ_per_word_write"] * scale,
            "area": 0.0,
            "latency": 1,
            "operands": m["operands"],
            "ports": [{"name": p["name"], "type": p["type"], "bandwidth_min": m["word_bits"],
                       "bandwidth_max": p["bw_bits"], "allocation": p["allocation"]}
                      for p in m["ports"]],
            "served_dimensions": m["served_dimensions"],
        }
    oa = dict(acc["operational_array"])
    return {"name": name, "memories": mems, "operational_array": oa}


def workload_yaml(layer):
    d = layer["dims"]
    s = layer["stride"]
    return [{
        "id": 0,
        "name": layer["name"],
        "operator_type": "Conv",
        "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
        "dimension_relations": [f"ix={s}*ox+1*fx", f"iy={s}*oy+1*fy"],
        "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
        "loop_sizes": [d[k] for k in ["B", "K", "C", "OY", "OX", "FY", "FX"]],
        "operand_precision": layer["precision"],
        "operand_source": {"I": 0, "W": 0},
        "pr_loop_dims": ["IY", "IX"],
        "padding": layer.get("padding", [[0, 0], [0, 0]]),
    }]


def mapping_yaml(layer):
    m = {"spatial_mapping": layer["spatial_mapping"],
         "temporal_ordering": [list(x) for x in reversed(layer["temporal_outer_first"])],
         "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}
    return [dict(name="default", **m), dict(name=layer["name"], **m)]


def loops(level):
    return [[str(dim), int(size) if float(size).is_integer() else float(size)]
            for dim, size in level]


def num(x):
    x = float(x)
    return int(x) if x.is_integer() else x


def extract(cme):
    layer = cme.layer
    acc = cme.accelerator
    tm = cme.temporal_mapping
    real, allowed = cme.real_data_trans_cycle, cme.allowed_mem_update_cycle
    out = {
        "energy_total_pJ": cme.energy_total,
        "mac_energy_pJ": cme.mac_energy,
        "mem_energy_pJ": cme.mem_energy,
        "noc_energy_pJ": 0.0,
        "noc_energy_note": "ZigZag models no interconnect/NoC energy (cost_model.py:546 "
                           "'# TODO: Interconnection energy'); energy_total = MAC + memory",
        "total_mac_count": num(layer.total_mac_count),
        "operand_size_elem": {str(op): num(v) for op, v in layer.operand_size_elem.items()},
        "spatial_mapping": str(layer.spatial_mapping),
        "latency": {
            "ideal_cycle": num(cme.ideal_cycle),
            "ideal_temporal_cycle": num(cme.ideal_temporal_cycle),
            "stall_slack_comb": num(cme.stall_slack_comb),
            "data_onloading_cycle": num(cme.data_onloading_cycle),
            "data_offloading_cycle": num(cme.data_offloading_cycle),
            "systolic_drain_cycle": num(cme.systolic_drain_cycle),
            "latency_total0_compute_plus_stall": num(cme.latency_total0),
            "latency_total1_plus_onload": num(cme.latency_total1),
            "latency_total2_plus_offload_drain": num(cme.latency_total2),
            "mac_spatial_utilization": cme.mac_spatial_utilization,
            "mac_utilization2": cme.mac_utilization2,
            "stall_slack_per_memory_port": [
                {"memory": ml.name, "ports": {k: num(v) for k, v in d.items()}}
                for ml, d in zip(cme.mem_level_list, cme.stall_slack_comb_collect, strict=True)],
        },
        "temporal_mapping_per_level": {},
        "temporal_mapping_after_merge_down": {},
        "mac_level_data_stationary_cycle": {str(op): num(v) for op, v in
                                            tm.mac_level_data_stationary_cycle.items()},
        "double_buffer_true": {str(op): v for op, v in cme.double_buffer_true.items()},
        "operands": {},
    }
    for layer_op in layer.layer_operands:
        mem_op = cme.memory_operand_links.layer_to_mem_op(layer_op)
        levels = acc.memory_hierarchy.get_memory_levels(mem_op)
        names = [ml.name for ml in levels]
        out["temporal_mapping_per_level"][str(layer_op)] = {
            names[i]: loops(lv) for i, lv in enumerate(tm.mapping_dic_origin[layer_op])}
        out["temporal_mapping_after_merge_down"][str(layer_op)] = {
            names[i]: loops(lv) for i, lv in enumerate(tm.mapping_dic_stationary[layer_op])}
        per_level = []
        for i, ml in enumerate(levels[:cme.mapping.mem_level[layer_op]]):
            umdm = cme.mapping.unit_mem_data_movement[layer_op][i]
            acc_words = cme.memory_word_access[layer_op][i]
            energy = cme.mem_energy_breakdown_further[layer_op][i]
            lv = {"memory": ml.name, "read_pJ_per_access": ml.read_energy,
                  "write_pJ_per_access": ml.write_energy,
                  "unit_count": num(cme.mapping.spatial_mapping.unit_count[layer_op][i + 1]),
                  "energy_pJ_total": cme.mem_energy_breakdown[layer_op][i],
                  "utilization_individual": cme.mem_utili_individual[layer_op][i],
                  "utilization_shared": cme.mem_utili_shared[layer_op][i],
                  "directions": {}}
            for d in DIRS:
                def attr(a, d=d, umdm=umdm):
                    return num(umdm.get_attribute(a).get(d))
                bw_max = ml.get_max_bandwidth(mem_op, d)
                words = acc_words.get(d)
                lv["directions"][str(d)] = {
                    "word_accesses": num(words),
                    "port_width_bits": bw_max,
                    "bits": num(words * bw_max) if bw_max else 0,
                    "energy_pJ": energy.get(d),
                    "elem_move_count": attr(DataMoveAttr.DATA_ELEM_MOVE_COUNT),
                    "precision_bits": attr(DataMoveAttr.DATA_PRECISION),
                    "amount_per_period_elem": attr(DataMoveAttr.DATA_TRANS_AMOUNT_PER_PERIOD),
                    "period_cycles": attr(DataMoveAttr.DATA_TRANS_PERIOD),
                    "period_count": attr(DataMoveAttr.DATA_TRANS_PERIOD_COUNT),
                    "real_cycles_per_period": num(real[layer_op][i].get(d)),
                    "allowed_cycles_per_period": num(allowed[layer_op][i].get(d)),
                }
            per_level.append(lv)
        out["operands"][str(layer_op)] = per_level
    return out


def run_layer(layer, acc_name, acc):
    with tempfile.TemporaryDirectory(prefix="zigzag_") as tmp:
        paths = {}
        for key, doc in (("accelerator", acc_yaml(acc_name, acc)),
                         ("workload", workload_yaml(layer)),
                         ("mapping", mapping_yaml(layer))):
            paths[key] = os.path.join(tmp, key + ".yaml")
            with open(paths[key], "w") as f:
                yaml.safe_dump(doc, f, sort_keys=False)
        log = io.StringIO()
        handler = logging.StreamHandler(log)
        root = logging.getLogger()
        old = root.handlers[:]
        root.handlers = [handler]
        t0 = time.time()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                energy, latency, cmes = get_hardware_performance_zigzag(
                    paths["workload"], paths["accelerator"], paths["mapping"],
                    opt="energy", dump_folder=os.path.join(tmp, "out"),
                    loma_show_progress_bar=False)
        finally:
            root.handlers = old
        wall = time.time() - t0
        with open(os.path.join(tmp, "out", "loop_ordering.txt")) as f:
            loop_ordering_txt = f.read()
    cme = cmes[0][1][0][0]  # SumStage -> per-layer list -> (CostModelEvaluation, extra)
    res = extract(cme)
    assert abs(res["energy_total_pJ"] - energy) < 1e-6 * max(1.0, energy)
    res["api_energy_total_pJ"] = energy
    res["api_latency_total_cycles"] = latency
    res["fed"] = layer
    res["loop_ordering_txt"] = loop_ordering_txt.splitlines()
    res["warnings"] = [ln for ln in log.getvalue().splitlines()
                       if "WARNING" in ln or "CRITICAL" in ln]
    res["wall_s"] = round(wall, 3)
    return res


def main():
    cases_path, out_path = sys.argv[1], sys.argv[2]
    with open(cases_path) as f:
        spec = json.load(f)["zigzag"]
    result = {"peer": "zigzag", "version": version("zigzag-dse"),
              "deps": {d: version(d) for d in DEPS}, "python": sys.version.split()[0],
              "api": "zigzag.api.get_hardware_performance_zigzag(opt='energy')",
              "accelerators": {n: acc_yaml(n, a) for n, a in spec["accelerators"].items()},
              "cases": []}
    t_all = time.time()
    for case in spec["cases"]:
        acc = spec["accelerators"][case["accelerator"]]
        c = {"name": case["name"], "accelerator": case["accelerator"],
             "note": case.get("note", ""), "layers": {}}
        for layer in case["layers"]:
            r = run_layer(layer, case["accelerator"], acc)
            c["layers"][layer["name"]] = r
            lat = r["latency"]
            print(f"{case['name']:>12} {layer['name']:<16} E={r['energy_total_pJ']:.6g} pJ "
                  f"MAC={r['mac_energy_pJ']:.6g} lat={lat['latency_total2_plus_offload_drain']} "
                  f"(ideal {lat['ideal_temporal_cycle']}, stall {lat['stall_slack_comb']}, "
                  f"on {lat['data_onloading_cycle']}, off {lat['data_offloading_cycle']}, "
                  f"drain {lat['systolic_drain_cycle']}) wall={r['wall_s']}s", flush=True)
            for op, lvls in r["temporal_mapping_per_level"].items():
                print(f"{'':>30}{op}: {lvls}")
        result["cases"].append(c)
    result["wall_s_total"] = round(time.time() - t_all, 2)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

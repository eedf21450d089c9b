"""The calibration record as text (``blockade calibrate``): every number comes from the record.

Sections, per hysteresis variant: parameters with their bootstrap, Jacobian and profile intervals
(identifiability), the residual table, qualitative checks, the IV 6β-naltrexol check, conflicts
(leave-one-out and forcing), profiles of the held parameters, the Rabiner scan-time assumption and the
between-subject variability; then the plasma-driven reference, parameter uncertainty, population
percentiles and the model comparison.  Printing the stored record (rather than refitting) makes
``blockade calibrate`` instant and shows exactly what the models use.
"""

from __future__ import annotations

from occupancy.calibration.pkpd.record import CHI2_1_95, kinetic_log_sd

__all__ = ["format_report"]


def _fmt(v, spec=".3g"):
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return format(v, spec)
    return str(v)


def _ci_text(c, spec=".4g") -> str:
    return (f"{'≤' if c['lower_open'] else ''}{_fmt(c['lower'], spec)} – "
            f"{'≥' if c['upper_open'] else ''}{_fmt(c['upper'], spec)}")


def _parameters(L, v, unc, h) -> None:
    cj = v["covariance_jacobian"]
    se = dict(zip(cj["parameters"], cj["ci95_factor"]))
    L.append(f"parameters and identifiability (profile 95% CI: sum z^2 <= min + {CHI2_1_95:.2f}; "
             "'not pinned' = the data do not bound it on one side):")
    L.append(f"{'parameter':<24}{'estimate':>11}  {'bootstrap 95% CI':>24}  {'Jacobian x/÷':>12}  profile 95% CI")
    for p in v["fitted"]:
        est = v["parameters"][p]
        b = unc.get("parameters", {}).get(p)
        bci = f"{b['ci95'][0]:.4g} – {b['ci95'][1]:.4g}" if b else ""
        pr = v.get("profiles", {}).get(p)
        pci = (_ci_text(pr["ci95"]) + ("" if pr["ci95"]["pinned"] else "  (not pinned)")) if pr else ""
        L.append(f"{p:<24}{est:>11.5g}  {bci:>24}  {_fmt(se.get(p), '.3g'):>12}  {pci}")
    for p, val in v["held"].items():
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            pr = v.get("profiles", {}).get(p)
            extra = f"   profile: sum z^2 within {CHI2_1_95:.2f} for {_ci_text(pr['ci95'])}" if pr else ""
            L.append(f"{p:<24}{val:>11.5g}  (held){extra}")
    L.append(f"Jacobian rank {cj['rank']}/{len(cj['parameters'])}; singular values "
             + ", ".join(f"{s:.3g}" for s in cj["singular_values"]))


def _residuals(L, v) -> None:
    L.append("residual table (z = weight * residual / scale; met = |z| <= 1):")
    L.append(f"{'target':<26}{'observed':>10}{'predicted':>11}{'z':>8}  met  source")
    for r in v["residuals"]:
        met = "n/a" if r["met"] is None else ("yes" if r["met"] else "NO ")
        L.append(f"{r['target']:<26}{r['observed']:>10}{_fmt(r['predicted'], '.4g'):>11}"
                 f"{_fmt(r['z'], '.3f'):>8}  {met:<4} {r['source'][:60]}")


def _conflicts(L, v) -> None:
    drops = [c for c in v.get("conflicts", []) if "dropped" in c]
    forces = [c for c in v.get("conflicts", []) if "forced" in c]
    if drops:
        L.append("conflicts by leave-one-out (dropping the first target(s) lets the second become met, |z| <= 1):")
        for c in drops:
            L.append(f"  drop {'+'.join(c['dropped'])}: {c['becomes_met']} z {c['z_full_fit']:.2f} -> "
                     f"{c['z_after_drop']:.2f} (rest improves by {c['sum_z2_rest_improvement']:.2f})")
    elif "leave_one_out" in v:
        L.append("conflicts by leave-one-out: no refit without one target turned an unmet target into a met one")
    if forces:
        L.append("conflicts by forcing (weight x10 on the first target(s); the second becomes unmet or |z| grows "
                 ">= 0.5):")
        by: dict = {}
        for c in forces:
            by.setdefault("+".join(c["forced"]), []).append(
                f"{c['conflicts_with']} {c['z_full_fit']:.2f}->{c['z_when_forced']:.2f}"
                + (" (unmet)" if c["became_unmet"] else ""))
        for k, lst in by.items():
            L.append(f"  force {k}: " + "; ".join(lst))
    if "leave_one_out" in v:
        big = sorted(v["leave_one_out"], key=lambda r: -r["improvement"])[:6]
        L.append("largest improvements of the other targets' sum z^2 when dropping: " + "; ".join(
            f"{r['label']} {r['improvement']:.2f}" for r in big))


def _profiles_and_sensitivity(L, v) -> None:
    for name in ("terminal_auc_fraction", "nol_potency_ratio", "t_half_beta_h", "f_systemic"):
        if name in v.get("profiles", {}):
            L.append(f"profile {name}:")
            for r in v["profiles"][name]["rows"]:
                extra = (f"  IV NOL 20 mg peak MOR {r['iv_naltrexol_20mg_peak_mor_fm1']:.1f} %"
                         if "iv_naltrexol_20mg_peak_mor_fm1" in r else "")
                L.append(f"  {r['value']:>10.4g}: sum z^2 {r['sum_z2']:8.3f}; MOR 2 h {r['mor_2h']:.1f}, "
                         f"49 h {r['mor_49h']:.1f}, 15 d {r['mor_15d']:.2f} %; Lee t1/2 "
                         f"{_fmt(r['lee_half_time_h'], '.3g')} h{extra}")
    if "rabiner_scan_time" in v:
        L.append("Rabiner scan-time assumption (scan times unknown, < 8 h; each mode refitted):")
        for mode, s in v["rabiner_scan_time"].items():
            kp2 = s["key_predictions"]
            kin = ", ".join(f"{k} {s['parameters'][k]:.4g}" for k in ("ke0_per_h", "koff_per_h") if k in s["parameters"])
            L.append(f"  {mode:<9} sum z^2 {s['sum_z2']:.3f} (default-fit parameters: "
                     f"{s['same_parameters_evaluated_with_mode']:.3f}); K {s['parameters']['k_mor_ng_ml']:.4g} "
                     f"ng/mL, {kin}; MOR 2 h {kp2['mor_2h']:.1f}, 49 h {kp2['mor_49h']:.1f}, 15 d "
                     f"{kp2['mor_15d']:.2f} %; Rabiner pred "
                     + "/".join(f"{r['predicted']:.1f}" for r in s["rabiner_rows"]))
    if "without_kim" in v:
        w = v["without_kim"]
        L.append(f"fit without Kim: {w['parameters']}; PET sum z^2 {w['sum_z2_pet']:.3f}; predicted Kim "
                 f"half-time {_fmt(w['kim_half_time_h'])} h (z {_fmt(w['kim_z'], '.2f')}; n/a = occupancy "
                 f"still rising at 8 h); kinetic-constant profile 95% range "
                 f"{_ci_text(w['profile_kinetic']['ci95'], '.3g')}")
    else:
        for name, pr in v.get("profiles", {}).items():
            if name in ("terminal_auc_fraction", "nol_potency_ratio", "t_half_beta_h", "f_systemic"):
                continue
            if "kim_half_time_h" in (pr["rows"][0] if pr["rows"] else {}):
                L.append(f"profile {name}: 95% CI {_ci_text(pr['ci95'])}; Kim half-time along the profile "
                         + ", ".join(f"{r['value']:.3g}->{_fmt(r['kim_half_time_h'], '.2g')} h" for r in pr["rows"]))


def _variability(L, v) -> None:
    if "variability" not in v:
        return
    vv = v["variability"]

    def sds(d):
        kin, ksd = kinetic_log_sd(d)
        ka = f", ka {d['ka_log_sd']:.3f}" if "ka_log_sd" in d else ""
        return f"CL {d['cl_log_sd']:.3f}{ka}, affinity {d['affinity_log_sd']:.3f}, {kin} {ksd:.3f}"

    L.append(f"between-subject variability (log-SDs): {sds(vv)}  ({vv.get('source', '')})")
    hv = v.get("variability_healthy_volunteer")
    if hv:
        L.append(f"  alternative without Weerts (healthy-volunteer data only): {sds(hv)}")
    der = vv.get("derivation") or {}
    it = der.get("affinity", {}).get("iterations")
    if it:
        L.append(f"  affinity sources: Rabiner net {it[-1]['affinity_rabiner_net']:.3f} (df "
                 f"{der['affinity']['rabiner_df']}), Weerts DOR match {it[-1]['affinity_weerts']:.3f} "
                 f"(df {der['affinity']['weerts_df']})")
    ch = der.get("checks")
    if ch and "weerts_mor_sd_sim" in ch:
        L.append(f"  checks: Weerts MOR SD sim {ch['weerts_mor_sd_sim']:.2f} vs obs {ch['weerts_mor_sd_obs']}; "
                 f"DOR SD sim {ch['weerts_dor_sd_sim']:.2f} vs {ch['weerts_dor_sd_obs']}; NTX Cmax CV sim "
                 f"{ch['ntx_cmax_cv_sim']:.3f} vs obs {', '.join(f'{x:.3f}' for x in ch['ntx_cmax_cv_obs'])}")


def _variant(L, record, h, v) -> None:
    L.append("")
    L.append(f"=== variant {h}: sum z^2 = {v['sum_z2']:.3f} (PK {v['sum_z2_pk']:.3f}, occupancy "
             f"{v['sum_z2_occupancy']:.3f}); {v['n_met']}/{v['n_targets']} targets met (|z|<=1)")
    unc = record.get("uncertainty", {}) if record.get("uncertainty", {}).get("variant") == h else {}
    _parameters(L, v, unc, h)
    L.append("")
    _residuals(L, v)
    if "checks" in v:
        L.append("qualitative checks (not fitted):")
        for c in v["checks"]:
            L.append(f"  {c['check']:<34} reported {c['reported']:<20} model {_fmt(c['model'], '.3g'):>8}  "
                     f"criterion {c['criterion']:<42} consistent: {_fmt(c['consistent'])}")
    kp = v.get("key_predictions", {})
    if kp:
        L.append("key predictions (typical subject): " + ", ".join(
            f"{k} {_fmt(x, '.4g')}" for k, x in kp.items() if not isinstance(x, dict)))
    if "iv_naltrexol_check" in v:
        c = v["iv_naltrexol_check"]
        L.append(f"IV 6b-naltrexol 20 mg bolus: peak MOR {c['peak_mor_20mg_bolus_fm1']:.1f} % (fm = 1, lower "
                 f"bound), {c['peak_mor_20mg_bolus_fm0.5']:.1f} % (fm = 0.5) — claim: {c['claim']}; criterion "
                 f"{c['criterion']}: {'consistent' if c['consistent_fm1'] else 'NOT consistent'}; rho implied "
                 f"by this fit's 6b-naltrexol clearance {c['implied_rho_at_this_fit']:.4g}")
    _conflicts(L, v)
    _profiles_and_sensitivity(L, v)
    _variability(L, v)
    o = v["optimizer"]
    L.append(f"optimiser: success={o['success']} status={o['status']} nfev={o['nfev']} cost={o['cost']:.6g} "
             f"({o['message']})")


def _compare(L, cmp) -> None:
    L.append("")
    L.append("model comparison under the same targets (predicted, z; n/a = the model has no value there):")
    names = list(cmp)
    tids = [r["target"] for r in cmp[names[0]]["rows"]]
    L.append(f"{'target':<26}{'observed':>10}  " + "  ".join(f"{n[:22]:>22}" for n in names))
    for i, tid in enumerate(tids):
        obs = cmp[names[0]]["rows"][i]["observed"]
        cells = []
        for n in names:
            r = cmp[n]["rows"][i]
            cells.append(f"{_fmt(r['predicted'], '.4g'):>12} z {_fmt(r['z'], '.2f'):>6}" if r["predicted"] is not None
                         else f"{'n/a':>22}")
        L.append(f"{tid:<26}{obs:>10}  " + "  ".join(f"{c:>22}" for c in cells))
    L.append(f"{'sum z^2 (evaluable)':<36}  " + "  ".join(f"{cmp[n]['sum_z2']:>22.3f}" for n in names))
    L.append(f"{'sum z^2 occupancy only':<36}  " + "  ".join(f"{cmp[n]['sum_z2_occupancy']:>22.3f}" for n in names))
    L.append(f"{'targets met / evaluable':<36}  " + "  ".join(
        f"{str(cmp[n]['n_met']) + '/' + str(cmp[n]['n_evaluable']):>22}" for n in names))


def format_report(record: dict) -> str:
    """Human-readable report of a calibration record (every number comes from the record).

    Parameters
    ----------
    record : dict
        A record from :func:`~occupancy.calibration.pkpd.calibrate` or
        :func:`~occupancy.calibration.pkpd.load_record` (the full record; a ``full=False`` record prints
        the sections it has).

    Returns
    -------
    str
    """
    L = []
    drug = record["drug"]
    L.append(f"PK/PD calibration: {drug}   default hysteresis: {record['default_hysteresis']} "
             f"({record['selection']['rule']})")
    L.append("sum z^2 by variant: " + ", ".join(f"{h} {v:.3f}" for h, v in record["selection"]["sum_z2"].items()))
    if "assumptions" in record:
        L.append("assumptions: " + "; ".join(f"{k}: {v}" for k, v in record["assumptions"].items()))
    if "held" in record:
        L.append("held: " + "; ".join(f"{k} = {v['value']:.4g} ({v['source']})" for k, v in record["held"].items()))
        d = record["held"].get("nol_potency_ratio", {}).get("derivation")
        if d:
            L.append(f"  rho derivation: {d['formula']} = {d['monkey_dose_ratio']:g} x {d['cl_ntx_iv_l_per_h']:g} / "
                     f"{d['cl_nol_l_per_h_fm1']:.4g} = {d['rho']:.4g} (CL_NOL from the pass-1 fit with rho = 100)")
    for h, v in record["variants"].items():
        _variant(L, record, h, v)
    if "direct_reference" in record:
        d = record["direct_reference"]
        L.append("")
        L.append(f"direct plasma-driven reference (ke0 = 1000/h, refitted): sum z^2 = {d['sum_z2']:.3f} "
                 f"(PK {d['sum_z2_pk']:.3f}, occupancy {d['sum_z2_occupancy']:.3f}); unmet: {', '.join(d['unmet'])}")
    if "uncertainty" in record:
        u = record["uncertainty"]
        L.append("")
        L.append(f"parameter uncertainty ({u['variant']}): {u['method']}; n = {u['n']} ({u['n_success']} converged), "
                 f"seed {u['seed']}")
        for k, s in u["typical_subject"].items():
            L.append(f"  typical {k}: median {s['median']:.4g}, 95% interval {s['ci95'][0]:.4g} – {s['ci95'][1]:.4g}")
    for key, title in (("population", "population"), ("population_healthy_volunteer_bsv",
                                                        "population with the healthy-volunteer BSV (no Weerts)")):
        if key not in record:
            continue
        p = record[key]
        sd = ", ".join(f"{k} {x:.3g}" for k, x in p["variability"].items() if isinstance(x, (int, float)))
        L.append("")
        L.append(f"{title} (n = {p['n']}, seed {p['seed']}; BSV log-SDs {sd}):")
        for lab in ("single_50mg", "daily_50mg_x7"):
            for t, d in p[lab].items():
                L.append(f"  {lab} t={t}: " + "; ".join(
                    f"{r} p05/p50/p95 {d[r]['p05']:.1f}/{d[r]['p50']:.1f}/{d[r]['p95']:.1f}" for r in d))
    if "dowling_pairings" in record:
        L.append("")
        L.append("Dowling 2008 pairing check (FDA serum t1/2 64 +/- 12 min):")
        for d in record["dowling_pairings"]:
            L.append("  " + ", ".join(f"{k} {v if not isinstance(v, list) else [round(x, 3) for x in v]}"
                                      for k, v in d.items()))
    if record.get("compare"):
        _compare(L, record["compare"])
    return "\n".join(L)

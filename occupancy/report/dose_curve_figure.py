"""The dose → blockade curve figure (``blockade dose-curve --out FILE.png`` and the web app)."""

from __future__ import annotations

COLORS = {"MOR": "black", "KOR": "tab:blue", "DOR": "tab:red"}


def plot_dose_curve(curve, ax=None, *, mark_dose: float | None = None):
    """Draw a :class:`~occupancy.models.dose_response.DoseCurve` on ``ax`` (a new figure when None).

    ``mark_dose`` (same unit as the curve) adds a marker and a label at that dose on the MOR curve.
    Returns the Axes.
    """
    if ax is None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4.5))
    for r, values in curve.curves.items():
        ax.plot(curve.doses, values, color=COLORS.get(r, None), label=r)
    if mark_dose is not None and mark_dose > 0:
        mor = curve.at(mark_dose, "MOR")
        ax.plot([mark_dose], [mor], "o", color="tab:green", ms=7, zorder=5,
                label=f"{mark_dose:g} {curve.unit}: MOR {mor:.1f} %")
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel(f"dose ({curve.unit})")
    ax.set_ylabel("blockade (%)")
    ax.set_title(curve.title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    from meta.plots import plain_text

    plain_text(ax)  # labels as written, never mathtext
    return ax

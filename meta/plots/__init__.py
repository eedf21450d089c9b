"""Standard meta-analysis figures (one module per kind; ``common`` reads results and saves files): forest, funnel, contour-enhanced funnel, trim-and-fill funnel, bubble.

Every function takes a fitted result (univariate or multilevel, recognised by field names only) and an
optional matplotlib :class:`~matplotlib.axes.Axes`, draws on it and returns it; without an Axes a new
:class:`~matplotlib.figure.Figure` is created (no ``pyplot`` state, never ``show()``).  matplotlib is
imported inside the functions so that importing :mod:`meta` stays fast, and figures are built as bare
``Figure`` objects rendered by the non-interactive Agg/SVG/PDF canvases, whatever backend pyplot uses.  Figures are written with
:func:`save_figure` (PNG, SVG or PDF chosen by the file suffix, written atomically).  Every text is plain text
(:func:`plain_text`: no mathtext, no LaTeX), so a label such as ``"Reward $5 & $10"`` is shown as written.

Conventions follow metafor 3.8 (``funnel.rma``, ``forest.rma``):

* Funnel plots put the standard error on the y axis, inverted so that 0 (the most precise studies) is
  at the top.  Intercept-only models plot the observed ``yi`` with the pseudo confidence region and the
  reference line at the pooled estimate; models with moderators plot the raw residuals ``yi − x_i'b``
  against their standard errors (``rstandard``: ``sqrt(v_i + Σσ² − x_i' vb x_i)``) around 0.  The
  region is ``refline ± z_{1−α/2}·SE`` (``addtau2=FALSE``, the metafor default and the only choice
  for ``rma.mv``).
* Contour-enhanced funnels (Peters et al. 2008) shade the regions of two-sided significance around 0:
  ``p > .10`` (white), ``.05 < p ≤ .10``, ``.01 < p ≤ .05`` (greys) and ``p ≤ .01`` (background).
* Forest-plot squares have an area proportional to the model weight (metafor scales ``sqrt(weights)``
  linearly; here side length ∝ ``sqrt(weight)``), per-outcome intervals are ``yi ± z·sqrt(vi)``.

Artists that tests (and users) may want to find carry a ``gid``: ``"forest-ci"``, ``"forest-point"``,
``"study-aggregate"``, ``"pooled-diamond"``, ``"prediction-interval"``, ``"null-line"``,
``"pseudo-ci"``, ``"refline"``, ``"funnel-points"``, ``"contour-region"``, ``"observed-points"``,
``"filled-points"``, ``"bubble-points"``, ``"fitted-line"``, ``"fitted-ci"``.

References
----------
Peters, J. L., Sutton, A. J., Jones, D. R., Abrams, K. R., & Rushton, L. (2008). Contour-enhanced
meta-analysis funnel plots help distinguish publication bias from other causes of asymmetry.
*J Clin Epidemiol* 61(10), 991–996.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *J Stat Softw* 36(3).
"""

from meta.plots.bubble import bubble_plot
from meta.plots.common import FIGURE_FORMATS, plain_text, save_figure
from meta.plots.forest import forest_plot
from meta.plots.funnel import contour_funnel_plot, funnel_plot, trimfill_funnel_plot

__all__ = [
    "forest_plot",
    "funnel_plot",
    "contour_funnel_plot",
    "trimfill_funnel_plot",
    "bubble_plot",
    "save_figure",
    "plain_text",
    "FIGURE_FORMATS",
]

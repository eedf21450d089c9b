"""The page: a Simulate, a Plan and a Reanalyse tab under one bar with "Upload scenario", "Download scenario"
and the last one-line error (``app_error``).  Widgets are drawn from the forms' :class:`InputDef` s."""

from __future__ import annotations

import json

from occupancy.app.forms import (
    MAX_ASSESSMENTS,
    MAX_DOSES,
    FieldInput,
    InputDef,
    PlanForm,
    ReanalyseForm,
    SimulateForm,
    drugs,
    model_description,
    model_names,
    route_drugs,
)
from occupancy.app.uploads import MAX_UPLOAD_BYTES

#: The Plan tab's headline numbers: (output id, label).  Notes and warnings go to ``<id>_note``.
PLAN_HEADLINES = (("plan_min_delay_h", "Minimum delay after the last dose (h)"),
                  ("plan_min_isi_days", "Minimum intersession interval (days)"),
                  ("plan_contrast", "Blockade contrast (pp)"),
                  ("plan_power", "Power of the planned N (attenuated effect)"),
                  ("plan_n_required", "N for the target power (attenuated effect)"),
                  ("plan_tablets", "Tablets"))

# Outputs must never be display:none while empty: Shiny does not render hidden outputs, so they would stay empty.
_CSS = """
.blockade-bar{display:flex;flex-wrap:wrap;align-items:flex-end;gap:.75rem 1.25rem;padding:.5rem 1rem;
  border-bottom:1px solid #dee2e6;background:#f8f9fa}
.blockade-bar .shiny-input-container{margin-bottom:0;width:auto}
.blockade-bar .form-group{margin-bottom:0}
#app_error{color:#b02a37;font-family:var(--bs-font-monospace);font-size:.85rem;white-space:pre-wrap;min-height:1px}
.app-notice{color:#0a58ca;font-size:.85rem}
.row-grid{display:grid;gap:.25rem;align-items:center}
.row-grid .shiny-input-container{margin-bottom:.15rem;width:100%!important}
.row-grid .form-control,.row-grid .form-select{padding:.15rem .35rem;font-size:.85rem}
.dose-grid{grid-template-columns:4.2rem 5rem 5.6rem 4.6rem}
.dose-grid .route-cell{display:none}
body.drug-routes .dose-grid{grid-template-columns:3.6rem 4.3rem 4.9rem 3.9rem minmax(5.6rem,1fr)}
body.drug-routes .dose-grid .route-cell{display:block}
.assess-grid{grid-template-columns:7.5rem 4.6rem 4.6rem}
.row-head{font-size:.75rem;color:#6c757d}
.model-help{font-size:.8rem;color:#6c757d;margin-top:-.4rem;margin-bottom:.4rem}
.key-note{font-size:.8rem;color:#495057}
.key-warning{font-size:.8rem;color:#b02a37}
.bs-value-box .value-box-value{font-size:1.6rem}
.compact-values .value-box-value{font-size:1.15rem!important}
.compact-values .value-box-title{font-size:.85rem}
.section-title{font-weight:600;margin:.6rem 0 .2rem;font-size:.9rem}
.svg-figure svg{max-width:100%;height:auto}
.field-error{color:#b02a37;font-size:.8rem;margin:.1rem 0 .35rem}
[aria-invalid=true]{border-color:#b02a37!important;box-shadow:0 0 0 .15rem rgba(176,42,55,.25)}
.outdated-mark{display:none;color:#664d03;background:#fff3cd;border:1px solid #ffe69c;border-radius:.3rem;
  padding:.3rem .6rem;margin-bottom:.5rem;font-size:.9rem}
.tab-outputs.outdated .outdated-mark{display:block}
/* Phones: charts keep a width at which their text is at least 10 px, and scroll sideways. */
@media (max-width: 640px){
  #timecourse_plot,#dose_curve_plot,#plan_power_curve,.svg-figure{overflow-x:auto}
  #timecourse_plot svg,#dose_curve_plot svg,#plan_power_curve svg{min-width:830px;max-width:none!important}
  .svg-figure svg{min-width:920px;max-width:none!important} /* the reports' figures: 7 pt text, 640 pt wide */
}
/* Phones (bslib's mobile width): a labelled, finger-sized button opens and closes each tab's inputs. */
.inputs-toggle{display:none}
@media (max-width: 575.98px){
  .inputs-toggle{display:block;width:100%;min-height:48px;margin:.25rem 0 .5rem;font-weight:600}
}
.tab-outputs.outdated .outdated-dim{filter:grayscale(1);outline:2px dashed #adb5bd;outline-offset:4px}
"""

# Errors at the field and the "outdated" mark, sent by the server (occupancy.app.server) per tab.
_FIELD_ERRORS = """
(function(){
  function clear(tab){
    document.querySelectorAll('[data-field-error-tab="' + tab + '"]').forEach(function(el){ el.remove(); });
    document.querySelectorAll('[data-error-tab="' + tab + '"]').forEach(function(el){
      el.removeAttribute('aria-invalid'); el.removeAttribute('data-error-tab');
      var ids = (el.getAttribute('aria-describedby') || '').split(' ').filter(function(x){ return x && x !== el.id + '_error'; });
      if (ids.length) el.setAttribute('aria-describedby', ids.join(' ')); else el.removeAttribute('aria-describedby');
    });
  }
  function show(tab, errors){
    clear(tab);
    (errors || []).forEach(function(e){
      var el = document.getElementById(e.id); if (!el) return;
      var msg = document.createElement('div');
      msg.id = e.id + '_error'; msg.className = 'field-error'; msg.textContent = e.text;
      msg.setAttribute('data-field-error-tab', tab);
      var row = el.closest('.row-grid');
      var box = el.closest('.shiny-input-container');
      if (row) row.insertAdjacentElement('afterend', msg); else if (box) box.appendChild(msg); else el.insertAdjacentElement('afterend', msg);
      el.setAttribute('aria-invalid', 'true'); el.setAttribute('data-error-tab', tab);
      var ids = (el.getAttribute('aria-describedby') || '').split(' ').filter(function(x){ return x; });
      if (ids.indexOf(msg.id) < 0) ids.push(msg.id);
      el.setAttribute('aria-describedby', ids.join(' '));
    });
  }
  function outdated(m){
    var box = document.getElementById(m.tab + '_outputs'); if (!box) return;
    box.classList.toggle('outdated', !!m.outdated);
    var mark = document.getElementById(m.tab + '_outdated');
    if (mark) mark.textContent = m.outdated ? ('Outdated: ' + m.reason) : '';
  }
  // Accessibility fixes of generated markup: data grids are tables, not multi-selectable grids; the sidebar's
  // resize handle (a focusable separator) says its value; keyboard users start at the inputs.
  function tidy(){
    document.querySelectorAll('table[aria-multiselectable]').forEach(function(t){ t.removeAttribute('aria-multiselectable'); });
    document.querySelectorAll('.bslib-sidebar-resize-handle[role=separator]').forEach(function(h){
      var side = h.parentNode ? h.parentNode.querySelector(':scope > .sidebar') : null;
      var w = side ? Math.round(side.getBoundingClientRect().width) : 0;
      if (h.getAttribute('aria-valuenow') !== String(w)) {
        h.setAttribute('aria-valuenow', String(w)); h.setAttribute('aria-valuemin', '0'); h.setAttribute('aria-valuemax', '1000');
        h.setAttribute('aria-label', 'Sidebar width (pixels)');
      }
    });
  }
  // The time course's hover crosshair: the values at the time nearest the pointer (MOR/KOR/DOR, percentiles,
  // concentrations), from the JSON the chart carries; keyboard and screen-reader users have the tables.
  function crosshair(ev){
    var area = ev.target.closest ? ev.target.closest('rect.hover-area') : null;
    document.querySelectorAll('g.crosshair').forEach(function(g){
      if (!area || g.parentNode !== area.parentNode) g.setAttribute('visibility', 'hidden');
    });
    if (!area) return;
    var d = area._hover || (area._hover = JSON.parse(area.getAttribute('data-hover')));
    var svg = area.ownerSVGElement, pt = svg.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    var p = pt.matrixTransform(svg.getScreenCTM().inverse());
    var f = (p.x - d.left) / d.pw, t = d.log ? Math.pow(10, Math.log10(d.x0) + f * (Math.log10(d.x1) - Math.log10(d.x0)))
                                              : d.x0 + f * (d.x1 - d.x0);
    var lo = 0, hi = d.x.length - 1;
    while (hi - lo > 1) { var mid = (lo + hi) >> 1; if (d.x[mid] < t) lo = mid; else hi = mid; }
    var i = Math.abs(d.x[lo] - t) <= Math.abs(d.x[hi] - t) ? lo : hi;
    var g = svg.querySelector('g.crosshair'), line = g.querySelector('.crosshair-line');
    var text = g.querySelector('.crosshair-text'), box = g.querySelector('.crosshair-box');
    var px = d.left + (d.log ? (Math.log10(d.x[i]) - Math.log10(d.x0)) / (Math.log10(d.x1) - Math.log10(d.x0))
                             : (d.x[i] - d.x0) / (d.x1 - d.x0)) * d.pw;
    line.setAttribute('x1', px); line.setAttribute('x2', px);
    var rows = ['time ' + Number(d.x[i].toPrecision(4)) + ' ' + d.unit];
    Object.keys(d.series).forEach(function(k){ var v = d.series[k][i]; rows.push(k + ': ' + (v === null ? '–' : v)); });
    while (text.firstChild) text.removeChild(text.firstChild);
    var right = px > d.left + d.pw * 0.6, x = right ? px - 8 : px + 8;
    rows.forEach(function(r, j){
      var s = document.createElementNS('http://www.w3.org/2000/svg', 'tspan');
      s.setAttribute('x', x); s.setAttribute('dy', j ? '14' : '0'); s.textContent = r; text.appendChild(s);
    });
    text.setAttribute('text-anchor', right ? 'end' : 'start');
    g.setAttribute('visibility', 'visible');
    var b = text.getBBox();
    box.setAttribute('x', b.x - 4); box.setAttribute('y', b.y - 3);
    box.setAttribute('width', b.width + 8); box.setAttribute('height', b.height + 6);
  }
  // The dose table's Route column: only for drugs whose models take a route (the list is from the registry).
  function routes(){
    var drug = document.getElementById('drug');
    if (!document.body) return;
    document.body.classList.toggle('drug-routes', !!drug && ROUTE_DRUGS.indexOf(drug.value) >= 0);
  }
  // Phones: the "Inputs" button opens/closes the tab's sidebar (bslib's own toggle, so its state stays one), and
  // choosing a tab in the collapsed navigation menu closes the menu.
  function inputsState(button){
    var layout = button.nextElementSibling;
    if (!layout || !layout.classList.contains('bslib-sidebar-layout')) return;
    var open = !layout.classList.contains('sidebar-collapsed');
    var toggle = layout.querySelector(':scope > .collapse-toggle');
    if (toggle && toggle.getAttribute('aria-controls')) button.setAttribute('aria-controls', toggle.getAttribute('aria-controls'));
    button.setAttribute('aria-expanded', open ? 'true' : 'false');
    button.textContent = open ? 'Hide inputs' : 'Show inputs';
  }
  function syncInputs(){ document.querySelectorAll('.inputs-toggle').forEach(inputsState); }
  function phoneClicks(ev){
    var button = ev.target.closest ? ev.target.closest('.inputs-toggle') : null;
    if (button) {
      var toggle = button.nextElementSibling && button.nextElementSibling.querySelector(':scope > .collapse-toggle');
      if (toggle) toggle.click();
      return;
    }
    var link = ev.target.closest ? ev.target.closest('.navbar-collapse .nav-link') : null;
    var menu = link ? link.closest('.navbar-collapse') : null;
    if (menu && window.bootstrap && bootstrap.Collapse && getComputedStyle(document.querySelector('.navbar-toggler') || menu).display !== 'none') {
      var collapse = bootstrap.Collapse.getOrCreateInstance(menu, {toggle: false});
      collapse.hide();  // ignored while the menu is still opening: try again once it has opened
      setTimeout(function(){ if (menu.classList.contains('show')) collapse.hide(); }, 450);
    }
  }
  function ready(){
    document.addEventListener('mousemove', crosshair);
    document.addEventListener('click', phoneClicks);
    var layouts = new MutationObserver(syncInputs);  // the label follows the sidebar, whichever control moved it
    var watch = function(){
      document.querySelectorAll('.bslib-sidebar-layout').forEach(function(l){
        if (!l._inputsWatched) { l._inputsWatched = true; layouts.observe(l, {attributes: true, attributeFilter: ['class']}); }
      });
      syncInputs();
    };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', watch); else watch();
    if (window.jQuery) jQuery(document).on('shiny:connected', watch);
    document.addEventListener('change', function(ev){ if (ev.target && ev.target.id === 'drug') routes(); });
    if (window.jQuery) jQuery(document).on('shiny:inputchanged shiny:connected', function(){ setTimeout(routes, 0); });
    routes();
    Shiny.addCustomMessageHandler('blockade_field_errors', function(m){ show(m.tab, m.errors); });
    Shiny.addCustomMessageHandler('blockade_outdated', outdated);
    Shiny.addCustomMessageHandler('blockade_url', function(m){
      var url = location.pathname + (m.query ? '?' + m.query : '') + location.hash;
      if (url !== location.pathname + location.search + location.hash) history.replaceState(null, '', url);
    });
    new MutationObserver(tidy).observe(document.documentElement, {subtree: true, childList: true, attributes: true,
      attributeFilter: ['aria-multiselectable']});
    tidy();
    var focusInputs = function(){
      var drug = document.getElementById('drug');
      if (drug && (document.activeElement === document.body || !document.activeElement)) drug.focus();
    };
    if (window.jQuery) jQuery(document).one('shiny:connected', focusInputs); else focusInputs();
  }
  if (window.Shiny && Shiny.addCustomMessageHandler) ready();
  else document.addEventListener('DOMContentLoaded', ready);
})();
"""


def outputs_area(tab: str, *children):
    """A tab's outputs, dimmed with an "outdated" mark while they do not match the inputs."""
    from shiny import ui

    return ui.div(ui.div(id=f"{tab}_outdated", class_="outdated-mark", role="status"),
                  ui.div(*children, class_="outdated-dim"), id=f"{tab}_outputs", class_="tab-outputs")

# The page refuses files over the limit before Shiny sends them (capture phase: before Shiny's handlers);
# the server refuses them too (occupancy.app.uploads.UploadLimit).
_UPLOAD_GUARD = """
(function(){
  var LIMIT = %d;
  function tooBig(files){ for (var i = 0; i < (files || []).length; i++) { if (files[i].size > LIMIT) return files[i]; } return null; }
  function refuse(ev, el, file){
    ev.stopImmediatePropagation(); ev.preventDefault();
    if (el && el.type === 'file') { el.value = ''; }
    var id = el && el.id ? el.id : '';
    if (window.Shiny && Shiny.setInputValue) {
      Shiny.setInputValue('upload_rejected', {input: id, name: file.name, size: file.size, at: Date.now()}, {priority: 'event'});
    }
  }
  document.addEventListener('change', function(ev){
    var el = ev.target; if (!el || el.type !== 'file') return;
    var f = tooBig(el.files); if (f) refuse(ev, el, f);
  }, true);
  document.addEventListener('drop', function(ev){
    var f = ev.dataTransfer ? tooBig(ev.dataTransfer.files) : null; if (!f) return;
    var input = ev.target && ev.target.closest ? ev.target.closest('.shiny-input-container') : null;
    refuse(ev, input ? input.querySelector('input[type=file]') : null, f);
  }, true);
})();
""" % MAX_UPLOAD_BYTES


def widget(d: InputDef, *, label: bool = True):
    """The Shiny widget of an :class:`InputDef` (``label=False``: the label only as a tooltip, for tables)."""
    from shiny import ui

    text = d.label if label else None
    if d.kind in ("number", "integer"):
        kw = {k: v for k, v in (("min", d.min), ("max", d.max), ("step", d.step)) if v is not None}
        if d.kind == "integer" and "step" not in kw:
            kw["step"] = 1
        tag = ui.input_numeric(d.id, text, d.default, **kw)
    elif d.kind == "text":
        tag = ui.input_text(d.id, text, d.default or "", placeholder=d.placeholder or None)
    elif d.kind == "numbers":
        tag = ui.input_text(d.id, text, d.default or "", placeholder="comma-separated numbers")
    elif d.kind == "choice":
        tag = ui.input_select(d.id, text, _choices(d), selected=d.default)
    elif d.kind == "radio":
        tag = ui.input_radio_buttons(d.id, text, _choices(d), selected=d.default, inline=True)
    elif d.kind == "bool":
        tag = ui.input_switch(d.id, d.label, bool(d.default))
    elif d.kind == "choices":
        tag = ui.input_checkbox_group(d.id, text, _choices(d), selected=list(d.default or ()), inline=True)
    else:
        raise ValueError(f"no widget for kind {d.kind!r}")
    field = _first_input(tag)
    if field is not None and d.placeholder and d.kind in ("number", "integer"):
        field.attrs["placeholder"] = d.placeholder
    if field is not None and not label:
        field.attrs.update({"aria-label": d.label, "title": d.label})
    return tag


def _first_input(tag):
    """The ``<input>`` or ``<select>`` element inside a widget (depth first), or None."""
    if getattr(tag, "name", None) in ("input", "select"):
        return tag
    for child in getattr(tag, "children", ()):
        found = _first_input(child)
        if found is not None:
            return found
    return None


def _choices(d: InputDef):
    return dict(d.choices) if hasattr(d.choices, "items") else {str(c): str(c) for c in d.choices}


def _fields(fields: list[FieldInput]):
    return [widget(f.input) for f in fields]


def _rows(count_id: str, n: int, row_fn, css: str, heads: list[str], cells: dict | None = None):
    """A table of inputs, one grid row per row; ``cells`` gives some columns (by row key) a CSS class (the dose
    table's Route column is shown only for drugs with routes)."""
    from shiny import ui

    cells = cells or {}
    keys = list(row_fn(0))
    out = [ui.div(*[ui.span(h, class_=cells.get(k)) for h, k in zip(heads, keys)], class_=f"row-grid {css} row-head")]
    for i in range(n):
        row = ui.div(*[ui.div(widget(d, label=False), class_=cells[k]) if k in cells else widget(d, label=False)
                       for k, d in row_fn(i).items()], class_=f"row-grid {css}")
        out.append(row if i == 0 else ui.panel_conditional(f"input.{count_id} > {i}", row))
    return out


def _model_block(form, drug_cond: str, model_input_for, params_for, models_of, prefix_cond=""):
    """Model selects and, in an accordion, the parameters of the chosen model (all drawn up front)."""
    from shiny import ui

    parts, panels = [], []
    for drug in drugs() if drug_cond else [None]:
        select = model_input_for(drug)
        helps = [ui.panel_conditional(f"input.{select.id} == '{m}'",
                                      ui.div(model_description(drug or "naltrexone", m), class_="model-help"))
                 for m in models_of(drug)]
        block = ui.div(widget(select), *helps)
        parts.append(ui.panel_conditional(f"input.drug == '{drug}'", block) if drug_cond else block)
        for m in models_of(drug):
            fields = params_for(drug, m)
            if not fields:
                continue
            cond = f"input.{select.id} == '{m}'" + (f" && input.drug == '{drug}'" if drug_cond else "")
            panels.append(ui.panel_conditional(cond, *_fields(fields)))
    parts.append(ui.accordion(ui.accordion_panel("Model parameters (blank or unchanged = model default)", *panels),
                              open=False))
    return parts


def _time_views() -> dict:
    from occupancy.app.views import TIME_VIEWS

    return dict(TIME_VIEWS)


def inputs_toggle(tab: str):
    """The phone's "Show inputs" button of a tab (hidden on wider screens): a labelled, finger-sized control for
    the sidebar that bslib otherwise opens only with a small chevron (the page's script wires it)."""
    from shiny import ui

    return ui.tags.button("Show inputs", type="button", id=f"{tab}_inputs_toggle",
                          class_="btn btn-outline-primary inputs-toggle", **{"aria-expanded": "false"})


def _report_button(tab: str):
    from shiny import ui

    return ui.div(ui.download_button(f"{tab}_report_download", "Report (HTML, as blockade run writes it)",
                                     class_="btn-sm"), class_="mb-2")


def simulate_panel(form: SimulateForm):
    from shiny import ui

    dose_count, assess_count = form.counts()
    pop_on, pop_n, pop_seed = form.population_inputs()
    others = []
    for section in form.other_sections():
        body = _fields(list(section.fields))
        if section.switch is not None:
            others += [widget(section.switch), ui.panel_conditional(f"input.{section.switch.id}", *body)]
        else:
            others += [ui.div(f"[{section.name}]", class_="section-title"), *body]
    sidebar = ui.sidebar(
        widget(form.drug_input()),
        *_model_block(form, "drug", form.model_input, form.parameter_inputs, model_names),
        ui.div("Doses (times from the first dose; amounts per dose)", class_="section-title"),
        widget(dose_count),
        *_rows("dose_rows", MAX_DOSES, form.dose_row, "dose-grid", ["time (h)", "amount", "unit", "infusion (min)",
                                                                    "route"], cells={"route": "route-cell"}),
        ui.div("Assessments (a window when it has an end)", class_="section-title"),
        widget(assess_count),
        *_rows("assess_rows", MAX_ASSESSMENTS, form.assessment_row, "assess-grid", ["label", "start (h)", "end (h)"]),
        widget(form.weight_input()),
        *_fields(form.subject_fields()),
        widget(pop_on),
        ui.panel_conditional("input.pop_on", widget(pop_n), widget(pop_seed),
                             ui.accordion(ui.accordion_panel("Variability (blank = derived from data)",
                                                             *_fields(form.population_fields())), open=False)),
        *_fields(form.summary_fields()),
        *others,
        width=430, title="Scenario",
    )
    main = [
        _report_button("simulate"),
        ui.layout_columns(
            ui.value_box("Typical subject's MOR blockade at the first assessment",
                         ui.span(ui.output_text("mor_at_assessment", inline=True), " %"),
                         ui.output_ui("mor_detail")),
            ui.div(ui.output_ui("sim_key_numbers"), class_="compact-values"),
            col_widths=(5, 7),
        ),
        ui.output_ui("sim_warnings"),
        ui.card(ui.card_header("Blockade over time"),
                ui.input_radio_buttons("time_view", "Time axis", _time_views(), selected="task", inline=True),
                ui.output_ui("timecourse_plot"),
                ui.div(ui.download_button("download_timecourse", "Time course (CSV)"),
                       ui.download_button("download_timecourse_png", "Figure (PNG)", class_="ms-2"),
                       ui.download_button("download_timecourse_svg", "Figure (SVG)", class_="ms-2"), class_="mt-1"),
                full_screen=True),
        ui.card(ui.card_header("Assessments (mean over each window; percentiles with a population)"),
                ui.output_data_frame("assessment_table"),
                ui.div(ui.download_button("download_assessments", "Assessments (CSV)"), class_="mt-1")),
        ui.card(ui.card_header("Dose → blockade (plantrexone / planoxone curve); the first dose is marked"),
                ui.output_ui("dose_curve_compare"),
                ui.output_ui("dose_curve_plot"),
                ui.div(ui.download_button("download_dose_curve", "Dose curve (CSV)"), class_="mt-1")),
    ]
    return ui.nav_panel("Simulate", inputs_toggle("simulate"), ui.layout_sidebar(sidebar, outputs_area("simulate", *main)),
                        value="simulate")


def plan_panel(form: PlanForm):
    from shiny import ui

    fields = {f.key: f for f in form.design_fields()}
    w = lambda key: widget(fields[key].input)  # noqa: E731
    sidebar = ui.sidebar(
        ui.div("Drug, model, doses, assessments (their start times; the first is the primary one), subject and "
               "population come from the Simulate tab, relative to each drug session's start.", class_="key-note"),
        ui.output_ui("plan_inputs_summary"),
        w("kind"),
        ui.panel_conditional("input.design_kind == 'within'", w("sessions"), w("drug_sessions"), w("isi_days"),
                             w("correlation")),
        w("participants"),
        ui.panel_conditional("input.design_kind == 'between'", w("n_drug"), w("n_placebo")),
        w("effect"), w("alpha"), w("power"), w("tablet_mg"), w("price_per_tablet"), w("currency"),
        ui.accordion(ui.accordion_panel("Thresholds and search limits", *_fields(form.advanced_fields())), open=False),
        width=380, title="Design",
    )
    heads = [ui.value_box(label, ui.output_text(oid, inline=True), ui.output_ui(f"{oid}_note"))
             for oid, label in PLAN_HEADLINES]
    main = [
        _report_button("plan"),
        ui.output_ui("plan_status"),
        ui.card(ui.card_header("Recommendations"), ui.output_ui("plan_recommendations"),
                ui.output_ui("plan_uncertainty")),
        ui.layout_column_wrap(*heads, width="300px", fill=False),
        ui.output_ui("plan_warnings"),
        ui.card(ui.card_header("Find the best design"),
                ui.div(ui.input_action_button("plan_explore", "Find the best design", class_="btn-primary btn-sm"),
                       class_="mb-2"),
                ui.output_ui("plan_explore_results")),
        ui.card(ui.card_header("Protocol timeline (MOR blockade, median and 5–95th percentile)"),
                ui.output_ui("plan_timeline"),
                ui.div(ui.download_button("download_plan_timeline_png", "Figure (PNG)"),
                       ui.download_button("download_plan_timeline_svg", "Figure (SVG)", class_="ms-2"), class_="mt-1"), full_screen=True),
        ui.card(ui.card_header("Power against N"), ui.output_ui("plan_power_curve"),
                ui.div(ui.download_button("download_plan_power_curve_png", "Figure (PNG)"),
                       ui.download_button("download_plan_power_curve_svg", "Figure (SVG)", class_="ms-2"), class_="mt-1")),
        ui.card(ui.card_header("Tables"),
                ui.input_select("plan_table_choice", "Table", {"plan_assessments": "Plan assessments"}),
                ui.output_data_frame("plan_table"),
                ui.div(ui.download_button("download_plan_table", "This table (CSV)"), class_="mt-1")),
    ]
    return ui.nav_panel("Plan", inputs_toggle("plan"), ui.layout_sidebar(sidebar, outputs_area("plan", *main)),
                        value="plan")


def reanalyse_panel(form: ReanalyseForm):
    from shiny import ui

    sidebar = ui.sidebar(
        widget(form.source_input()),
        ui.input_file("outcomes_upload", "Outcome CSV (one row per outcome; columns in the documentation)", accept=[".csv"],
                      button_label="Upload CSV…"),
        *_model_block(form, "", lambda _d: form.model_input(), lambda _d, m: form.parameter_inputs(m),
                      lambda _d: model_names("naltrexone")),
        ui.div("Virtual population", class_="section-title"),
        *_fields(form.population_fields()[:2]),
        ui.accordion(ui.accordion_panel("Variability (blank = derived from data)",
                                        *_fields(form.population_fields()[2:])),
                     ui.accordion_panel("Reanalysis settings", *_fields(form.reanalysis_fields())), open=False),
        width=400, title="Reanalysis",
    )
    main = [
        _report_button("reanalyse"),
        ui.output_ui("reanalysis_progress"),
        ui.input_action_button("reanalysis_cancel", "Cancel the running reanalysis",
                               class_="btn-sm btn-outline-secondary mb-2"),
        ui.card(ui.card_header("Pooled and blockade-adjusted estimates (Hedges' g)"),
                ui.output_ui("reanalysis_preliminary"),
                ui.output_data_frame("reanalysis_estimates"), ui.output_ui("reanalysis_text")),
        ui.card(ui.card_header("Forest plot with each unit's MOR contrast"), ui.output_ui("forest_plot"),
                ui.div(ui.download_button("download_forest_plot_png", "Figure (PNG)"),
                       ui.download_button("download_forest_plot_svg", "Figure (SVG)", class_="ms-2"), class_="mt-1"), full_screen=True),
        ui.card(ui.card_header("g against the MOR blockade contrast (meta-regression)"), ui.output_ui("bubble_plot"),
                ui.div(ui.download_button("download_bubble_plot_png", "Figure (PNG)"),
                       ui.download_button("download_bubble_plot_svg", "Figure (SVG)", class_="ms-2"), class_="mt-1")),
        ui.card(ui.card_header("Tables"),
                ui.input_select("rea_table_choice", "Table", {"annotated_outcomes": "Annotated outcomes"}),
                ui.output_data_frame("rea_table"),
                ui.div(ui.download_button("download_rea_table", "This table (CSV)"), class_="mt-1")),
    ]
    return ui.nav_panel("Reanalyse", inputs_toggle("reanalyse"), ui.layout_sidebar(sidebar, outputs_area("reanalyse", *main)),
                        value="reanalyse")


def build_ui():
    """The whole page."""
    from shiny import ui

    from occupancy.version import __version__

    bar = ui.div(
        ui.input_file("scenario_upload", "Scenario", accept=[".toml"], button_label="Upload scenario…",
                      placeholder="TOML, ≤ 5 MB"),
        ui.download_button("scenario_download", "Download scenario"),
        ui.div(ui.output_text("app_error"), ui.output_ui("app_notice"), style="flex:1 1 30rem"),
        class_="blockade-bar",
    )
    return ui.page_navbar(
        simulate_panel(SimulateForm()),
        plan_panel(PlanForm()),
        reanalyse_panel(ReanalyseForm()),
        title=f"blockade {__version__}",
        id="tabs",
        selected="simulate",
        header=ui.TagList(ui.head_content(ui.tags.style(_CSS), ui.tags.script(ui.HTML(_UPLOAD_GUARD)),
                                               ui.tags.script(ui.HTML(_FIELD_ERRORS.replace(
                                                   "ROUTE_DRUGS", json.dumps(list(route_drugs())))))), bar),
        window_title="blockade",
        lang="en",
        fillable=False,
    )

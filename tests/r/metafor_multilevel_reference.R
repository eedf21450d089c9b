# Reference values for meta/multilevel.py, meta/profile_likelihood.py, meta/heterogeneity.py and
# meta/diagnostics.py (formerly meta/influence.py), produced with metafor 3.8-1 / metadat (R 4).  CI has no R: the output of this script,
# tests/data/metafor_multilevel.json, is committed and the Python tests read only that file.
#
#   Rscript tests/r/metafor_multilevel_reference.R  [out.json]
#
# Notes on precision
# * metafor optimises log(sigma2) with nlminb at its default rel.tol (1e-10); on these data that leaves the
#   reported sigma2 up to ~1e-7 relative away from the optimum, which is visible at a 1e-6 agreement target for
#   the derived quantities.  Every rma.mv() call below therefore passes
#   control = list(rel.tol = 1e-12, iter.max = 10000, eval.max = 20000)
#   (handed through to nlminb; tighter values make nlminb stop with "false convergence"), falling back to the
#   default control if nlminb still reports non-convergence; the result is then polished by a restart with
#   optimizer = "nlm" (gradtol = steptol = 1e-14) at the nlminb solution, and the fit with the higher
#   log-likelihood is kept.  The JSON also keeps the default-control estimates ("sigma2_default") so the
#   size of the difference is on record.
# * confint() profiles with uniroot(tol = .Machine$double.eps^0.25) by default (~1e-4); we pass
#   control = list(tol = 1e-12) so the bounds are accurate well beyond the 1e-4 test tolerance.
# * I^2 per level is not part of rma.mv: it is computed here with the formula of the metafor project page
#   "tips:i2_multilevel_multivariate" (W = diag(1/vi), P = W - WX(X'WX)^-1X'W, typical = (k-p)/tr(P)).
# * Every number is written with jsonlite digits = NA (17 significant digits, round-trip exact).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("tests", "data", "metafor_multilevel.json")

ctrl <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 20000)

# ---------------------------------------------------------------- datasets ---------------------------------
konst <- dat.konstantopoulos2011
konst$year_c <- konst$year - mean(konst$year)

assink <- dat.assink2016

# Synthetic three-level data with no between-study variance: metafor's between-study sigma2 ends at 0.
set.seed(20261125)
n_s <- 20; n_e <- 3
bnd <- data.frame(study = rep(seq_len(n_s), each = n_e), esid = rep(seq_len(n_e), n_s))
bnd$vi <- round(runif(nrow(bnd), 0.01, 0.05), 4)
bnd$yi <- round(0.3 + rnorm(nrow(bnd), 0, sqrt(0.1)) + rnorm(nrow(bnd), 0, sqrt(bnd$vi)), 4)
# shrink the study means towards the grand mean so that the between-study component is on the boundary
sm <- ave(bnd$yi, bnd$study)
bnd$yi <- round(bnd$yi - 0.9 * (sm - mean(bnd$yi)), 4)
bnd$x <- round(rnorm(nrow(bnd)), 4)

# Synthetic four-level data (region / study / sample / esid), unbalanced, ids reused across clusters.
set.seed(3)
rows <- list()
for (r in 1:12) for (s in 1:sample(3:5, 1)) for (m in 1:sample(1:3, 1)) for (e in 1:sample(1:3, 1))
  rows[[length(rows) + 1]] <- data.frame(region = r, study = s, sample = m, esid = e)
four <- do.call(rbind, rows)
four$vi <- round(runif(nrow(four), 0.005, 0.03), 4)
reg_eff <- rnorm(12, 0, sqrt(0.08))[four$region]
st_id <- interaction(four$region, four$study, drop = TRUE)
sa_id <- interaction(four$region, four$study, four$sample, drop = TRUE)
st_eff <- rnorm(nlevels(st_id), 0, sqrt(0.05))[st_id]
sa_eff <- rnorm(nlevels(sa_id), 0, sqrt(0.03))[sa_id]
four$yi <- round(0.2 + reg_eff + st_eff + sa_eff + rnorm(nrow(four), 0, sqrt(0.02)) + rnorm(nrow(four), 0, sqrt(four$vi)), 4)
four$x <- round(runif(nrow(four), -1, 1), 4)

datasets <- list(
  konstantopoulos2011 = konst[, c("district", "school", "study", "year", "year_c", "yi", "vi")],
  assink2016 = assink[, c("study", "esid", "yi", "vi", "pubstatus", "year", "deltype")],
  boundary = bnd,
  fourlevel = four
)

# ---------------------------------------------------------------- helpers ----------------------------------
i2_levels <- function(res) {
  W <- diag(1 / res$vi)
  X <- model.matrix(res)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  typical <- (res$k - res$p) / sum(diag(P))
  s <- res$sigma2
  list(total = 100 * sum(s) / (sum(s) + typical), levels = 100 * s / (sum(s) + typical), typical = typical)
}

coef_table <- function(res) {
  list(name = rownames(res$beta), estimate = as.vector(res$beta), se = res$se, z = res$zval,
       p = res$pval, ci_lb = res$ci.lb, ci_ub = res$ci.ub, ddf = if (is.null(res$ddf)) NULL else as.vector(res$ddf))
}

summarise <- function(res, default_res = NULL) {
  fs <- fitstats(res)
  i2 <- i2_levels(res)
  out <- list(
    k = res$k, p = res$p, method = res$method, test = res$test,
    sigma2 = res$sigma2,
    sigma2_default = if (is.null(default_res)) NULL else default_res$sigma2,
    beta = as.vector(res$beta), vb = unname(res$vb),
    coefficients = coef_table(res),
    QE = res$QE, QE_df = res$k - res$p, QE_p = res$QEp,
    QM = res$QM, QM_df = res$QMdf, QM_p = res$QMp,
    logLik = as.vector(fs[1, 1]), deviance = as.vector(fs[2, 1]), AIC = as.vector(fs[3, 1]),
    BIC = as.vector(fs[4, 1]), AICc = as.vector(fs[5, 1]),
    ll_ML = res$fit.stats["ll", "ML"], ll_REML = res$fit.stats["ll", "REML"],
    I2_total = i2$total, I2_levels = i2$levels, typical_variance = i2$typical,
    weights = as.vector(weights(res)), fitted = as.vector(fitted(res)), residuals = as.vector(residuals(res))
  )
  if (res$int.only) {
    pr <- predict(res)
    out$pred <- list(pred = pr$pred, se = pr$se, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub, pi_lb = pr$pi.lb, pi_ub = pr$pi.ub)
  }
  out
}

fit <- function(random, data, mods = NULL, method = "REML", test = "z", dfs = "residual", sigma2 = NA) {
  args <- list(yi = quote(yi), V = quote(vi), random = random, data = data, method = method,
               test = test, dfs = dfs, control = ctrl, sigma2 = sigma2)
  if (!is.null(mods)) args$mods <- mods
  res <- try(do.call(rma.mv, args), silent = TRUE)
  if (inherits(res, "try-error")) {
    args$control <- NULL
    res <- try(do.call(rma.mv, args), silent = TRUE)
  }
  if (inherits(res, "try-error")) {
    # nlminb on log(sigma2) can fail when a component heads for 0; metafor's documented alternative
    args$control <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000)
    res <- do.call(rma.mv, args)
  }
  # polish: restart nlm with tight gradient/step tolerances at the nlminb solution; keep the better optimum
  args$control <- list(optimizer = "nlm", gradtol = 1e-14, steptol = 1e-14, iterlim = 10000,
                       sigma2.init = pmax(res$sigma2, 1e-10))
  pol <- try(do.call(rma.mv, args), silent = TRUE)
  if (!inherits(pol, "try-error") && fitstats(pol)[1, 1] > fitstats(res)[1, 1]) res <- pol
  res
}

fit_default <- function(random, data, mods = NULL, method = "REML", test = "z", dfs = "residual") {
  args <- list(yi = quote(yi), V = quote(vi), random = random, data = data, method = method,
               test = test, dfs = dfs)
  if (!is.null(mods)) args$mods <- mods
  res <- try(do.call(rma.mv, args), silent = TRUE)
  if (inherits(res, "try-error")) NULL else res
}

profile_cis <- function(res) {
  # profiled on the default-control fit: confint's refits inherit the fit's control, and nlminb with the
  # tightened rel.tol fails at some profile points ("false convergence")
  ci <- confint(res, control = list(tol = 1e-12))
  if (!is.null(ci$random)) ci <- list(ci)  # single component
  ci <- Filter(function(x) is.list(x) && !is.null(x$random), ci)
  lapply(ci, function(x) list(estimate = x$random[1, 1], ci_lb = x$random[1, 2], ci_ub = x$random[1, 3]))
}

lrts <- function(res, random, data, mods = NULL) {
  n <- length(res$sigma2)
  lapply(seq_len(n), function(j) {
    s <- rep(NA, n); s[j] <- 0
    red <- fit(random, data, mods = mods, method = res$method, sigma2 = s)
    a <- anova(res, red)
    list(component = j, LRT = a$LRT, p = a$pval, logLik_reduced = as.vector(fitstats(red)[1, 1]))
  })
}

influence_mv <- function(res, cluster_values) {
  # on the default-control fit for the same reason as profile_cis (refits inherit the control list)
  cd <- cooks.distance(res)
  rs <- rstudent(res)
  cdc <- cooks.distance(res, cluster = cluster_values)
  rsc <- rstudent(res, cluster = cluster_values)
  list(cooks_obs = as.vector(cd), rstudent_obs = list(resid = rs$resid, se = rs$se, z = rs$z),
       cooks_cluster = as.vector(cdc), cluster_ids = unique(cluster_values),
       rstudent_cluster_obs = list(resid = rsc$obs$resid, se = rsc$obs$se, z = rsc$obs$z),
       rstudent_cluster_X2 = rsc$cluster$X2, rstudent_cluster_k = rsc$cluster$k)
}

# metafor's cooks.distance()/rstudent() refit with the fit's own control (default nlminb), which leaves the
# refits ~1e-7 relative off their optimum; Cook's distances of uninfluential units are differences of nearly
# equal estimates, so that error is magnified.  influence_tight() therefore repeats exactly the computations
# of metafor's .cooks.distance.rma.mv and .rstudent.rma.mv (refit without the unit, variance components
# re-estimated; D = dfb' vb^-1 dfb; deleted residual / sqrt(M_ii at the refit's sigma2 + x vb_del x'),
# X2 per cluster) but with the tightly converged fit() for every refit.
influence_tight <- function(res, random, data, cluster_values = NULL, mods = NULL) {
  X <- model.matrix(res)
  svb <- chol2inv(chol(res$vb))
  units <- if (is.null(cluster_values)) seq_len(res$k) else unique(cluster_values)
  memb <- if (is.null(cluster_values)) as.list(seq_len(res$k)) else lapply(units, function(u) which(cluster_values == u))
  cook <- numeric(length(units)); X2 <- numeric(length(units))
  resid <- numeric(res$k); se <- numeric(res$k)
  for (u in seq_along(units)) {
    incl <- memb[[u]]
    sub <- data[-incl, , drop = FALSE]
    del <- fit(random, sub, mods = mods, method = res$method)
    dfb <- as.vector(res$beta) - as.vector(del$beta)
    cook[u] <- as.vector(crossprod(dfb, svb) %*% dfb)
    margs <- list(yi = quote(yi), V = quote(vi), random = random, data = data, method = res$method,
                  sigma2 = del$sigma2, outlist = "M=M")
    if (!is.null(mods)) margs$mods <- mods
    Mfull <- do.call(rma.mv, margs)$M
    Xi <- X[incl, , drop = FALSE]
    e <- data$yi[incl] - as.vector(Xi %*% del$beta)
    S <- as.matrix(Mfull[incl, incl, drop = FALSE]) + Xi %*% del$vb %*% t(Xi)
    resid[incl] <- e
    se[incl] <- sqrt(diag(S))
    X2[u] <- as.vector(t(e) %*% chol2inv(chol(S)) %*% e)
  }
  list(cooks = cook, resid = resid, se = se, z = resid / se, X2 = X2, units = units)
}

# ---------------------------------------------------------------- cases ------------------------------------
cases <- list()
add <- function(name, dataset, levels, mods_py, res, default_res = NULL, extra = list()) {
  message("case ", name)
  cases[[name]] <<- c(list(name = name, dataset = dataset, levels = levels, mods = mods_py,
                          method = res$method, test = res$test, dfs = if (is.null(res$dfs)) "residual" else res$dfs),
                     summarise(res, default_res), extra)
}

rk <- ~ 1 | district/school
ra <- ~ 1 | study/esid

# konstantopoulos2011, intercept-only REML (+ profile CIs, LRTs, influence)
r1 <- fit(rk, konst)
r1d <- fit_default(rk, konst)
add("konst_reml", "konstantopoulos2011", c("district", "school"), NULL, r1, r1d,
    list(profile_ci = profile_cis(r1d), lrt = lrts(r1, rk, konst),
         influence = influence_mv(r1d, konst$district),
         influence_tight_obs = influence_tight(r1, rk, konst),
         influence_tight_cluster = influence_tight(r1, rk, konst, konst$district)))

# ML intercept-only
r2 <- fit(rk, konst, method = "ML")
r2d <- fit_default(rk, konst, method = "ML")
add("konst_ml", "konstantopoulos2011", c("district", "school"), NULL, r2, r2d,
    list(profile_ci = profile_cis(r2d), lrt = lrts(r2, rk, konst)))

# ML with the centred year (the metafor test file's model); Python uses the pre-centred column year_c
r3 <- fit(rk, konst, mods = ~ I(year - mean(year)), method = "ML")
add("konst_ml_year", "konstantopoulos2011", c("district", "school"), "~ year_c", r3,
    fit_default(rk, konst, mods = ~ I(year - mean(year)), method = "ML"))

# REML with a continuous moderator (centred year: with raw year, X'X is so ill-conditioned that nlminb/nlm
# stop ~2e-11 below the maximum log-likelihood, ~1e-6 relative off in I^2), profile CIs
r4 <- fit(rk, konst, mods = ~ year_c)
r4d <- fit_default(rk, konst, mods = ~ year_c)
add("konst_reml_year", "konstantopoulos2011", c("district", "school"), "~ year_c", r4, r4d,
    list(profile_ci = profile_cis(r4d)))

# t tests with dfs = "contain": intercept-only and with a moderator
r5 <- fit(rk, konst, test = "t", dfs = "contain")
add("konst_t_contain", "konstantopoulos2011", c("district", "school"), NULL, r5)
r6 <- fit(rk, konst, mods = ~ year_c, test = "t", dfs = "contain")
add("konst_t_contain_year", "konstantopoulos2011", c("district", "school"), "~ year_c", r6)
r6b <- fit(rk, konst, mods = ~ year_c, test = "t")
add("konst_t_residual_year", "konstantopoulos2011", c("district", "school"), "~ year_c", r6b)

# assink2016 intercept-only (+ profile CIs, LRTs, influence by study)
a1 <- fit(ra, assink)
a1d <- fit_default(ra, assink)
add("assink_reml", "assink2016", c("study", "esid"), NULL, a1, a1d,
    list(profile_ci = profile_cis(a1d), lrt = lrts(a1, ra, assink),
         influence = influence_mv(a1d, assink$study),
         influence_tight_obs = influence_tight(a1, ra, assink),
         influence_tight_cluster = influence_tight(a1, ra, assink, assink$study)))

# numeric 0/1 moderator pubstatus (as in the metadat documentation)
a2 <- fit(ra, assink, mods = ~ pubstatus)
a2d <- fit_default(ra, assink, mods = ~ pubstatus)
add("assink_pubstatus", "assink2016", c("study", "esid"), "~ pubstatus", a2, a2d,
    list(profile_ci = profile_cis(a2d), lrt = lrts(a2, ra, assink, mods = ~ pubstatus),
         influence_tight_cluster = influence_tight(a2, ra, assink, assink$study, mods = ~ pubstatus)))

# three-level categorical moderator (treatment coding, reference level 'covert')
a3 <- fit(ra, assink, mods = ~ deltype)
a3d <- fit_default(ra, assink, mods = ~ deltype)
add("assink_deltype", "assink2016", c("study", "esid"), "~ deltype", a3, a3d,
    list(profile_ci = profile_cis(a3d)))

# ML, categorical + continuous, t test / contain
a4 <- fit(ra, assink, mods = ~ deltype + year, method = "ML", test = "t", dfs = "contain")
add("assink_ml_deltype_year_contain", "assink2016", c("study", "esid"), "~ deltype + year", a4)

# boundary: between-study sigma2 at 0 (intercept-only and with a moderator)
b1 <- fit(ra, bnd)
b1d <- fit_default(ra, bnd)
add("boundary_reml", "boundary", c("study", "esid"), NULL, b1, b1d,
    list(profile_ci = profile_cis(b1d)))
b2 <- fit(ra, bnd, mods = ~ x, method = "ML")
add("boundary_ml_x", "boundary", c("study", "esid"), "~ x", b2, fit_default(ra, bnd, mods = ~ x, method = "ML"))

# four nested levels
rf <- ~ 1 | region/study/sample/esid
f1 <- fit(rf, four)
add("fourlevel_reml", "fourlevel", c("region", "study", "sample", "esid"), NULL, f1, fit_default(rf, four),
    list(lrt = lrts(f1, rf, four)))
f2 <- fit(rf, four, mods = ~ x, method = "ML", test = "t", dfs = "contain")
add("fourlevel_ml_x_contain", "fourlevel", c("region", "study", "sample", "esid"), "~ x", f2)

# ---------------------------------------------------------------- univariate influence (issue 4) -----------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
u1 <- rma(yi, vi, data = bcg, method = "REML", control = list(threshold = 1e-14, maxiter = 10000))
inf <- influence(u1)
l1 <- leave1out(u1)
rsu <- rstudent(u1)
univariate <- list(
  bcg_reml = list(
    yi = as.vector(bcg$yi), vi = as.vector(bcg$vi), tau2 = u1$tau2, beta = as.vector(u1$beta),
    cooks = as.vector(inf$inf$cook.d), rstudent = as.vector(rsu$z), rstudent_resid = as.vector(rsu$resid),
    rstudent_se = as.vector(rsu$se),
    loo_estimate = as.vector(l1$estimate), loo_se = as.vector(l1$se), loo_tau2 = as.vector(l1$tau2),
    loo_QE = as.vector(l1$Q), loo_I2 = as.vector(l1$I2)
  )
)

out <- list(
  generated_by = "tests/r/metafor_multilevel_reference.R",
  R_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  control = ctrl,
  datasets = lapply(datasets, as.list),
  cases = unname(cases),
  univariate = univariate
)
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE), out_file)
cat("wrote", out_file, "\n")

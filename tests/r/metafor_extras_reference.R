# Reference values for issue 23: R formula habits in moderators, the full influence() output (with
# hatvalues() and weights(), univariate and rma.mv), the omnibus test's df (QMdf) and selection models
# (selmodel(): step function / 3PSM and beta).
#
# Run from the repository root with R >= 4, metafor 3.8.1, metadat, numDeriv and jsonlite:
#     Rscript tests/r/metafor_extras_reference.R
# It writes tests/data/metafor_extras.json (jsonlite digits = NA: 17 significant digits).
# CI has no R: the JSON is committed and the Python tests read only the JSON (the data are stored in it).
#
# Control settings, and why
# * Formulas, QMdf and univariate influence use metafor's defaults (REML Fisher scoring with threshold 1e-5; meta/ follows
#   the same iterations, so it reproduces these to floating-point accuracy).
# * selmodel() maximises with optim(method = "BFGS"), reltol = 1e-8 and finite-difference gradients with
#   ndeps = 1e-3, i.e. some 1e-7 short of the maximum.  Each case is stored twice:
#   - "default": selmodel() exactly as a user calls it;
#   - "exact":   the maximum itself.  Step function: selmodel(..., control = list(reltol = 1e-14, maxit = 10000,
#     ndeps = rep(1e-6, npar))).  Beta: selmodel() integrates A_i with integrate(rel.tol = eps^0.25), whose error
#     moves the log-likelihood by ~2.5e-4 (dat.hackshaw1998) and the estimates by ~1e-4, and tighter rel.tol makes
#     integrate() fail part-way through the optimisation; so metafor's own log-likelihood
#     (metafor:::.selmodel.ll.cont, same parametrisation) is maximised with integrate(rel.tol = 1e-10) by optim
#     BFGS (reltol = 1e-13) started at selmodel()'s estimates, and the SEs come from numDeriv::hessian of the same
#     function on the natural scale, exactly as selmodel() computes them.
#   The Python tests compare to "exact" at 1e-6 relative and to "default" at the looser tolerance its
#   optimiser / integrator allow (documented in tests/test_meta_selection.py).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
  library(numDeriv)
})

num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
out <- list(metafor = as.character(packageVersion("metafor")))

# ------------------------------------------------------------------------------------------------ formulas
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg_na <- bcg
bcg_na$ablat[2] <- NA  # a missing moderator
bcg_na$yi[5] <- NA     # a missing estimate: scale() still uses this row's ablat in R
bcg_data <- list(yi = as.numeric(bcg_na$yi), vi = as.numeric(bcg_na$vi), ablat = as.numeric(bcg_na$ablat),
                 year = as.numeric(bcg_na$year), alloc = as.character(bcg_na$alloc), trial = bcg_na$trial)

fit_values <- function(res) list(
  names = rownames(res$beta), beta = c(res$beta), se = c(res$se), tau2 = num(res$tau2),
  QM = num(res$QM), QMp = num(res$QMp), QMdf = num(res$QMdf), QE = num(res$QE), k = res$k,
  not_na = as.logical(res$not.na))

formulas <- c("~ scale(ablat)", "~ factor(alloc)", "~ factor(year > 1960)", "~ poly(ablat, 2)",
              "~ log(ablat)", "~ I(ablat^2) + year", "~ factor(alloc) * ablat", "~ scale(ablat) + factor(alloc)",
              "~ center_ablat", "~ I(ablat/10):year")
bcg_na$center_ablat <- bcg_na$ablat  # plain column (checks ordinary names pass through)
bcg_data$center_ablat <- bcg_data$ablat
out$formulas <- list(data = bcg_data, cases = lapply(formulas, function(f) {
  res <- try(suppressWarnings(rma(yi, vi, mods = as.formula(f), data = bcg_na)), silent = TRUE)
  if (inherits(res, "try-error")) return(list(mods = f, error = trimws(conditionMessage(attr(res, "condition")))))
  c(list(mods = f), fit_values(res))
}))
# multilevel: konstantopoulos2011 with a missing estimate, scale(year) and factor(district)
kon <- dat.konstantopoulos2011
kon$yi[c(3, 20)] <- NA
ml_cases <- c("~ scale(year)", "~ I(year - 1990) + factor(district > 50)")
out$formulas_multilevel <- list(
  data = list(yi = kon$yi, vi = kon$vi, year = kon$year, district = kon$district, school = kon$school),
  cases = lapply(ml_cases, function(f) {
    res <- suppressWarnings(rma.mv(yi, vi, mods = as.formula(f), random = ~ 1 | district/school, data = kon))
    list(mods = f, names = rownames(res$beta), beta = c(res$beta), se = c(res$se), sigma2 = c(res$sigma2),
         QM = num(res$QM), QMdf = num(res$QMdf))
  }))

# -------------------------------------------------------------------------------------------------- QMdf
qm <- list()
for (test in c("z", "t", "knha")) {
  res <- rma(yi, vi, mods = ~ ablat + year, data = bcg, test = test)
  qm[[length(qm) + 1]] <- list(model = "univariate", mods = "~ ablat + year", test = test, QM = num(res$QM),
                               QMdf = num(res$QMdf), QMp = num(res$QMp))
}
kon0 <- dat.konstantopoulos2011
for (test in c("z", "t")) {
  res <- rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school, data = kon0, test = test)
  qm[[length(qm) + 1]] <- list(model = "multilevel", mods = "~ year", test = test, QM = num(res$QM),
                               QMdf = num(res$QMdf), QMp = num(res$QMp))
}
out$qmdf <- list(bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat, year = bcg$year),
                 konstantopoulos = list(yi = kon0$yi, vi = kon0$vi, year = kon0$year, district = kon0$district,
                                        school = kon0$school),
                 cases = qm)

# --------------------------------------------------------------------------------------------- influence
infl_uni <- function(res) {
  inf <- influence(res)
  list(rstudent = inf$inf$rstudent, dffits = inf$inf$dffits, cook_d = inf$inf$cook.d, cov_r = inf$inf$cov.r,
       tau2_del = inf$inf$tau2.del, QE_del = inf$inf$QE.del, hat = inf$inf$hat, weight = inf$inf$weight,
       dfbs = unname(as.matrix(dfbetas(res))), is_infl = as.logical(inf$is.infl),
       hatvalues = unname(hatvalues(res)), weights = unname(weights(res)))
}
uni <- list()
for (cfg in list(list(mods = NULL, test = "z", method = "REML"), list(mods = "~ ablat", test = "z", method = "REML"),
                 list(mods = "~ ablat", test = "knha", method = "REML"), list(mods = NULL, test = "z", method = "DL"))) {
  args <- list(yi = bcg$yi, vi = bcg$vi, test = cfg$test, method = cfg$method)
  if (!is.null(cfg$mods)) args$mods <- as.formula(paste(cfg$mods)); if (!is.null(cfg$mods)) args$data <- bcg
  res <- if (is.null(cfg$mods)) rma(yi, vi, data = bcg, test = cfg$test, method = cfg$method) else
    rma(yi, vi, mods = as.formula(cfg$mods), data = bcg, test = cfg$test, method = cfg$method)
  uni[[length(uni) + 1]] <- c(list(data = "bcg", mods = cfg$mods, test = cfg$test, method = cfg$method), infl_uni(res))
}
hack <- dat.hackshaw1998
res <- rma(yi, vi, data = hack)
uni[[length(uni) + 1]] <- c(list(data = "hackshaw1998", mods = NULL, test = "z", method = "REML"), infl_uni(res))

# rma.mv: tight nlminb control, which the refits of cooks.distance()/dfbetas()/rstudent() inherit, so the
# leave-out fits are converged to the maximum (metafor's default control stops ~1e-4 short)
# (optim BFGS with reltol = 1e-14: nlminb at rel.tol = 1e-12 reports non-convergence for half of the refits,
# which metafor then returns as NA)
mv_fit <- function(mods) {
  f <- if (is.null(mods)) ~ 1 else as.formula(mods)
  for (ctrl in list(list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000),
                    list(rel.tol = 1e-12, iter.max = 10000, eval.max = 20000))) {
    res <- try(rma.mv(yi, vi, mods = f, random = ~ 1 | district/school, data = kon0, control = ctrl), silent = TRUE)
    if (!inherits(res, "try-error")) return(res)
  }
  stop("no tight fit")
}
mv <- list()
for (mods in list(NULL, "~ year")) {
  res <- mv_fit(mods)
  rs <- rstudent(res)
  mv[[length(mv) + 1]] <- list(
    mods = mods, cooks_distance = unname(cooks.distance(res)),
    dfbetas = unname(as.matrix(dfbetas(res))), hatvalues = unname(hatvalues(res)), weights = unname(weights(res)),
    rstudent_resid = rs$resid, rstudent_se = rs$se, rstudent_z = rs$z,
    dfbetas_district = unname(as.matrix(dfbetas(res, cluster = kon0$district))),
    cooks_district = unname(cooks.distance(res, cluster = kon0$district)))
}
out$influence <- list(
  data = list(bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat),
              hackshaw1998 = list(yi = hack$yi, vi = hack$vi),
              konstantopoulos = list(yi = kon0$yi, vi = kon0$vi, year = kon0$year, district = kon0$district,
                                     school = kon0$school)),
  univariate = uni, multilevel = mv)

# ------------------------------------------------------------------------------------------- selmodel
# The selection-model section takes ~15 min on a loaded 2-core machine (the beta model's accurate integrals);
# EXTRAS_KEEP_SELMODEL=1 regenerates everything else and keeps the stored selmodel part of the JSON unchanged.
if (identical(Sys.getenv("EXTRAS_KEEP_SELMODEL"), "1")) {
  out$selmodel <- fromJSON("tests/data/metafor_extras.json", simplifyVector = FALSE)$selmodel
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = FALSE),
             "tests/data/metafor_extras.json")
  cat("wrote tests/data/metafor_extras.json (selmodel part kept)\n")
  quit(save = "no")
}
sel_values <- function(s) list(
  beta = c(s$beta), se = c(s$se), tau2 = num(s$tau2), se_tau2 = num(s$se.tau2), delta = c(s$delta),
  se_delta = c(s$se.delta), pval_delta = c(s$pval.delta), LRT = num(s$LRT), LRTdf = num(s$LRTdf),
  LRTp = num(s$LRTp), ll = num(s$ll), ll0 = num(s$ll0), k_per_interval = if (is.data.frame(s$ptable))
    s$ptable$k else NULL)

beta_exact <- function(s, res, alternative) {
  # maximise metafor's beta-model log-likelihood with an accurate integral (see the header)
  yi <- c(res$yi); vi <- res$vi; k <- length(yi); X <- res$X; p <- ncol(X)
  wi.fun <- function(x, delta, yi, vi, preci, alternative, steps) x^(delta[1] - 1) * (1 - x)^(delta[2] - 1)
  pv <- metafor:::.selmodel.pval(yi, vi, alternative); pv <- pmin(pmax(pv, 1e-5), 1 - 1e-5)
  ic <- list(lower = -Inf, upper = Inf, subdivisions = 1000L, rel.tol = 1e-10)
  f <- function(par, transf) {
    v <- try(metafor:::.selmodel.ll.cont(par, yi = yi, vi = vi, X = X, preci = rep(1, k), k = k, pX = p,
      pvals = pv, deltas = 2, delta.val = c(NA, NA), delta.transf = transf, mapfun = c(NA, NA),
      delta.min = c(1e-5, 1e-5), delta.max = c(100, 100), tau2.val = NA, tau2.transf = transf, tau2.max = Inf,
      beta.val = rep(NA, p), wi.fun = wi.fun, steps = NA, pgrp = NA, alternative = alternative, pval.min = 1e-5,
      intCtrl = ic, verbose = FALSE, digits = 4), silent = TRUE)
    if (inherits(v, "try-error")) 1e10 else v
  }
  d2t <- function(d) log((d - 1e-5) / (100 - d))
  start <- c(c(s$beta), log(s$tau2), d2t(s$delta))
  opt <- optim(start, f, transf = TRUE, method = "BFGS",
               control = list(reltol = 1e-13, maxit = 300, ndeps = rep(1e-5, length(start))))
  est <- c(opt$par[1:p], exp(opt$par[p + 1]), 1e-5 + (100 - 1e-5) / (1 + exp(-opt$par[(p + 2):(p + 3)])))
  H <- numDeriv::hessian(f, est, method.args = list(r = 6), transf = FALSE)
  iH <- chol2inv(chol(H))
  se <- sqrt(diag(iH))
  ll <- -f(est, FALSE)
  LRT <- max(0, -2 * (s$ll0 - ll))
  zd <- (est[(p + 2):(p + 3)] - 1) / se[(p + 2):(p + 3)]
  list(beta = est[1:p], se = se[1:p], tau2 = est[p + 1], se_tau2 = se[p + 1], delta = est[(p + 2):(p + 3)],
       se_delta = se[(p + 2):(p + 3)], pval_delta = 2 * pnorm(abs(zd), lower.tail = FALSE), LRT = LRT, LRTdf = 2,
       LRTp = pchisq(LRT, 2, lower.tail = FALSE), ll = ll, ll0 = s$ll0, convergence = opt$convergence)
}

review <- data.frame(
  yi = c(-0.34, 0.08, -0.19, -2.5, -0.79, -0.18, 0.21, 0.05),
  vi = c(0.01562557399540595, 0.04813275521450328, 0.010939854180040566, 0.7173316401789359, 0.183680216762323,
         0.04061607967735464, 0.12755570608494649, 0.043759416720162266))
leh <- dat.lehmann2018
sets <- list(hackshaw1998 = data.frame(yi = hack$yi, vi = hack$vi),
             bcg = data.frame(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)),
             lehmann2018 = data.frame(yi = leh$yi, vi = leh$vi),
             review = review,
             bcg_ablat = data.frame(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat))
specs <- list(list(type = "stepfun", steps = 0.025), list(type = "stepfun", steps = c(0.025, 0.5)),
              list(type = "beta", steps = NULL))
sel <- list()
for (nm in names(sets)) {
  d <- sets[[nm]]
  res <- if (nm == "bcg_ablat") rma(yi, vi, mods = ~ ablat, data = d) else rma(yi, vi, data = d)  # a moderator
  for (alternative in c("greater", "less")) {
    if (nm != "review" && alternative == "less") next
    for (sp in specs) {
      args <- list(res, type = sp$type, alternative = alternative)
      if (!is.null(sp$steps)) args$steps <- sp$steps
      s <- try(suppressWarnings(do.call(selmodel, args)), silent = TRUE)
      case <- list(data = nm, type = sp$type, steps = sp$steps, alternative = alternative)
      if (inherits(s, "try-error")) {
        case$error <- trimws(conditionMessage(attr(s, "condition")))
      } else {
        case$default <- sel_values(s)
        if (sp$type == "stepfun") {
          npar <- res$p + 1 + length(s$delta)
          args$control <- list(reltol = 1e-14, maxit = 10000, ndeps = rep(1e-6, npar))
          ex <- try(suppressWarnings(do.call(selmodel, args)), silent = TRUE)
          if (inherits(ex, "try-error")) {  # optim stopped at maxit: restart from the default fit's estimates
            args$control$beta.init <- c(s$beta); args$control$tau2.init <- max(s$tau2, 1e-4)
            args$control$delta.init <- pmax(s$delta, 1e-3)
            ex <- try(suppressWarnings(do.call(selmodel, args)), silent = TRUE)
          }
          # no tight optimum (e.g. an estimate at its bound, where BFGS on the transformed scale never settles):
          # only the default run is stored
          if (inherits(ex, "try-error")) case$exact_error <- trimws(conditionMessage(attr(ex, "condition")))
          else case$exact <- sel_values(ex)
        } else {
          case$exact <- beta_exact(s, res, alternative)
        }
        message(nm, " ", alternative, " ", sp$type, " ", paste(sp$steps, collapse = ","), ": done")
      }
      sel[[length(sel) + 1]] <- case
    }
  }
}
out$selmodel <- list(data = lapply(sets, function(d) as.list(d)), cases = sel)

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = FALSE),
           "tests/data/metafor_extras.json")
cat("wrote tests/data/metafor_extras.json\n")

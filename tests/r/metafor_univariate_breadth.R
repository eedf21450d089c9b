# Reference values for the univariate breadth of meta/ (issue 13): tau^2 estimators PM, SJ, HE, EB, HS beside
# REML, ML, DL, FE; Knapp-Hartung tests; Q-profile and likelihood-profile CIs for tau^2; exact leave-one-out,
# Cook's distances and studentised deleted residuals; predict(); Wald tests (anova btt / X) and LRTs; and
# na.action = "na.omit" with missing values.
#
# Run from the repository root with R >= 4 and metafor 3.8.1 / metadat:
#     Rscript tests/r/metafor_univariate_breadth.R
# It writes tests/data/metafor_univariate_breadth.json (jsonlite digits = NA: 17 significant digits).
# CI has no R: the JSON is committed and the Python tests read only the JSON.
#
# Control settings, and why
# * REML, ML, DL, FE, SJ, HE, HS run with metafor's default control.  REML/ML use Fisher scoring that stops when
#   the change in tau^2 is <= threshold = 1e-5; meta/univariate.py follows the same iterations, starting
#   values and stopping rule, so it reproduces these (not the exact maximum) to floating-point accuracy.
#   leave1out(), cooks.distance() and rstudent() refit with the model's own control, i.e. the same defaults.
# * PM and EB solve Q(tau^2) = k - p (EB's Fisher-type iteration has the same fixed point).  metafor's defaults
#   stop uniroot() at tol = eps^0.25 and EB's iteration at threshold = 1e-5, up to ~1e-4 short of the root;
#   meta/ solves to the exact root, so these fits pass control = list(tol = 1e-12, threshold = 1e-14,
#   maxiter = 10000) (the refits of leave1out() etc. inherit it).
# * confint() uses uniroot(tol = eps^0.25) by default; we pass control = list(tol = 1e-12) for both the
#   Q-profile ("QP", metafor's default type) and the likelihood-profile ("PL") intervals.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(tol = 1e-12, threshold = 1e-14, maxiter = 10000)
num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)

fit <- function(data, method, mods = NULL, test = "z") {
  args <- list(yi = quote(yi), vi = quote(vi), data = data, method = method, test = test)
  if (!is.null(mods)) args$mods <- mods
  if (method %in% c("PM", "EB")) args$control <- tight
  do.call(rma, args)
}

values <- function(res) {
  pr <- predict(res)
  fs <- fitstats(res)
  list(
    method = res$method, test = res$test, k = res$k, p = res$p, names = rownames(res$beta),
    beta = c(res$beta), se = c(res$se), zval = c(res$zval), pval = c(res$pval),
    ci_lb = c(res$ci.lb), ci_ub = c(res$ci.ub), vb = unname(res$vb),
    tau2 = num(res$tau2), se_tau2 = num(res$se.tau2), s2w = num(res$s2w),
    QE = num(res$QE), QEp = num(res$QEp), QM = num(res$QM), QMp = num(res$QMp), QMdf = num(res$QMdf),
    I2 = num(res$I2), H2 = num(res$H2), vt = num(res$vt),
    logLik = as.numeric(logLik(res)), deviance = as.numeric(deviance(res)),
    AIC = as.numeric(AIC(res)), BIC = as.numeric(BIC(res)), AICc = as.numeric(fs[5, 1]),
    pred = num(pr$pred), pred_se = num(pr$se), pred_ci_lb = num(pr$ci.lb), pred_ci_ub = num(pr$ci.ub),
    pi_lb = num(if (is.null(pr$pi.lb)) pr$cr.lb else pr$pi.lb),
    pi_ub = num(if (is.null(pr$pi.ub)) pr$cr.ub else pr$pi.ub),
    not_na = if (is.null(res$not.na)) NULL else as.logical(res$not.na)
  )
}

influence_values <- function(res) {
  out <- list()
  if (res$int.only) {
    l <- leave1out(res)
    out$loo <- list(estimate = num(l$estimate), se = num(l$se), zval = num(if (is.null(l$zval)) l$tval else l$zval),
                    pval = num(l$pval), ci_lb = num(l$ci.lb), ci_ub = num(l$ci.ub), QE = num(l$Q), QEp = num(l$Qp),
                    tau2 = if (is.null(l$tau2)) NULL else num(l$tau2), I2 = num(l$I2), H2 = num(l$H2))
  }
  inf <- influence(res)
  rs <- rstudent(res)
  out$cooks <- as.numeric(cooks.distance(res))
  out$rstudent <- list(resid = as.numeric(rs$resid), se = as.numeric(rs$se), z = as.numeric(rs$z))
  out$tau2_del <- as.numeric(inf$inf$tau2.del)
  out$QE_del <- as.numeric(inf$inf$QE.del)
  out
}

ci_values <- function(res) {
  qp <- confint(res, control = list(tol = 1e-12))
  r <- qp$random
  out <- list(QP = list(tau2 = unname(r[1, ]), tau = unname(r[2, ]), I2 = unname(r[3, ]), H2 = unname(r[4, ]),
                        lb_sign = qp$lb.sign, ub_sign = qp$ub.sign, ci_null = qp$ci.null))
  if (res$method %in% c("REML", "ML")) {
    pl <- confint(res, type = "PL", control = list(tol = 1e-12))
    r <- pl$random
    out$PL <- list(tau2 = unname(r[1, ]), I2 = unname(r[3, ]), H2 = unname(r[4, ]))
  }
  out
}

## ---- data ---------------------------------------------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hk <- dat.hackshaw1998
rb <- dat.raudenbush1985
# tau^2 near the boundary: REML tau^2 = 0.003, ML tau^2 at ~2e-6 (Fisher scoring stops at the 1e-5 threshold),
# and some leave-one-out refits at exactly 0
set.seed(33)
vi_b <- round(runif(12, 0.02, 0.12), 4)
bnd <- data.frame(vi = vi_b, yi = round(0.25 + rnorm(12, 0, sqrt(0.03)) + rnorm(12, 0, sqrt(vi_b)), 4))

datasets <- list(
  bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat, year = bcg$year,
             alloc = as.character(bcg$alloc)),
  hackshaw = list(yi = hk$yi, vi = hk$vi),
  raudenbush = list(yi = rb$yi, vi = rb$vi, weeks = rb$weeks),
  boundary = list(yi = bnd$yi, vi = bnd$vi)
)
frames <- list(bcg = as.data.frame(bcg), hackshaw = hk, raudenbush = rb, boundary = bnd)

methods <- c("REML", "ML", "DL", "FE", "PM", "SJ", "HE", "EB", "HS")

## ---- estimators (item 4) and Knapp-Hartung (item 5) ---------------------------------------------------------
fits <- list()
for (d in names(frames)) {
  for (m in methods) {
    key <- paste(d, m, sep = "_")
    fits[[key]] <- c(list(dataset = d, mods = NULL), values(fit(frames[[d]], m)))
  }
  for (m in c("REML", "DL", "PM")) {
    key <- paste(d, m, "knha", sep = "_")
    fits[[key]] <- c(list(dataset = d, mods = NULL), values(fit(frames[[d]], m, test = "knha")))
  }
}
# moderators, every estimator; knha and t with moderators
for (m in methods) {
  fits[[paste0("bcg_", m, "_ablat")]] <- c(list(dataset = "bcg", mods = "~ ablat"),
                                           values(fit(frames$bcg, m, mods = ~ ablat)))
}
fits$bcg_REML_ablat_knha <- c(list(dataset = "bcg", mods = "~ ablat"),
                              values(fit(frames$bcg, "REML", mods = ~ ablat, test = "knha")))
fits$bcg_REML_ablat_t <- c(list(dataset = "bcg", mods = "~ ablat"),
                           values(fit(frames$bcg, "REML", mods = ~ ablat, test = "t")))
fits$raudenbush_REML_weeks_knha <- c(list(dataset = "raudenbush", mods = "~ weeks"),
                                     values(fit(frames$raudenbush, "REML", mods = ~ weeks, test = "knha")))

## ---- tau^2 CIs (item 5) -------------------------------------------------------------------------------------
cis <- list()
for (d in names(frames)) for (m in c("REML", "ML", "DL", "PM")) {
  cis[[paste(d, m, sep = "_")]] <- c(list(dataset = d, method = m, mods = NULL), ci_values(fit(frames[[d]], m)))
}
cis$bcg_REML_ablat <- c(list(dataset = "bcg", method = "REML", mods = "~ ablat"),
                        ci_values(fit(frames$bcg, "REML", mods = ~ ablat)))

## ---- influence (item 1) ---------------------------------------------------------------------------------------
infl <- list()
for (d in c("bcg", "hackshaw", "boundary")) for (m in c("REML", "ML", "DL")) {
  infl[[paste(d, m, sep = "_")]] <- c(list(dataset = d, method = m, test = "z", mods = NULL),
                                      influence_values(fit(frames[[d]], m)))
}
for (m in c("FE", "PM", "SJ", "HE", "EB", "HS")) {
  infl[[paste("bcg", m, sep = "_")]] <- c(list(dataset = "bcg", method = m, test = "z", mods = NULL),
                                          influence_values(fit(frames$bcg, m)))
}
infl$bcg_REML_knha <- c(list(dataset = "bcg", method = "REML", test = "knha", mods = NULL),
                        influence_values(fit(frames$bcg, "REML", test = "knha")))
infl$bcg_REML_ablat <- c(list(dataset = "bcg", method = "REML", test = "z", mods = "~ ablat"),
                         influence_values(fit(frames$bcg, "REML", mods = ~ ablat)))
infl$raudenbush_ML_weeks_t <- c(list(dataset = "raudenbush", method = "ML", test = "t", mods = "~ weeks"),
                                influence_values(fit(frames$raudenbush, "ML", mods = ~ weeks, test = "t")))

## ---- predict at new moderator values (item 7) -------------------------------------------------------------------
alloc_levels <- levels(factor(bcg$alloc))
nd <- data.frame(ablat = c(10, 33.5, 55), year = c(1950, 1960, 1975),
                 alloc = factor(c("random", "systematic", "alternate"), levels = alloc_levels))
Xn <- model.matrix(~ ablat + year + alloc, nd)[, -1, drop = FALSE]
pred_values <- function(res, Xn) {
  pr <- predict(res, newmods = Xn)
  list(pred = num(pr$pred), se = num(pr$se), ci_lb = num(pr$ci.lb), ci_ub = num(pr$ci.ub),
       pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub))
}
preds <- list(
  newdata = list(ablat = nd$ablat, year = nd$year, alloc = as.character(nd$alloc)),
  REML_full = c(list(method = "REML", test = "z", mods = "~ ablat + year + alloc"),
                pred_values(fit(frames$bcg, "REML", mods = ~ ablat + year + alloc), Xn)),
  REML_full_knha = c(list(method = "REML", test = "knha", mods = "~ ablat + year + alloc"),
                     pred_values(fit(frames$bcg, "REML", mods = ~ ablat + year + alloc, test = "knha"), Xn)),
  DL_ablat_t = c(list(method = "DL", test = "t", mods = "~ ablat"),
                 pred_values(fit(frames$bcg, "DL", mods = ~ ablat, test = "t"), nd$ablat))
)

## ---- Wald tests and LRTs (item 8) ----------------------------------------------------------------------------
full <- fit(frames$bcg, "REML", mods = ~ ablat + year + alloc)
fullt <- fit(frames$bcg, "REML", mods = ~ ablat + year + alloc, test = "knha")
wald_btt <- function(res, btt) {
  a <- anova(res, btt = btt)
  list(btt = btt, QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp)
}
Lmat <- rbind(c(0, 1, 0, 0, 0), c(0, 0, 0, 1, -1), c(1, 30, 1970, 0, 1))
wald_X <- function(res) {
  a <- anova(res, X = Lmat)
  list(X = unname(Lmat), Xb = as.numeric(a$Xb), se = as.numeric(a$se), zval = as.numeric(a$zval),
       pval = as.numeric(a$pval), QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp, ddf = num(a$ddf))
}
lrt_values <- function(f, r) {
  a <- anova(f, r)
  list(LRT = a$LRT, pval = a$pval, parms_f = a$parms.f, parms_r = a$parms.r,
       fit_f = unname(as.numeric(a$fit.stats.f)), fit_r = unname(as.numeric(a$fit.stats.r)),
       QE_f = a$QE.f, QE_r = a$QE.r, tau2_f = a$tau2.f, tau2_r = a$tau2.r, R2 = num(a$R2))
}
tests <- list(
  mods = "~ ablat + year + alloc",
  wald = list(
    z_alloc = c(list(test = "z"), wald_btt(full, 4:5)),
    z_year = c(list(test = "z"), wald_btt(full, 3)),
    z_default = c(list(test = "z"), wald_btt(full, NULL)),
    knha_alloc = c(list(test = "knha"), wald_btt(fullt, 4:5))
  ),
  contrasts = list(z = c(list(test = "z"), wald_X(full)), knha = c(list(test = "knha"), wald_X(fullt))),
  lrt = list(
    ML_ablat_vs_int = c(list(method = "ML", full = "~ ablat + year + alloc", reduced = "~ ablat"),
                        lrt_values(fit(frames$bcg, "ML", mods = ~ ablat + year + alloc),
                                   fit(frames$bcg, "ML", mods = ~ ablat))),
    ML_ablat_vs_none = c(list(method = "ML", full = "~ ablat", reduced = NULL),
                         lrt_values(fit(frames$bcg, "ML", mods = ~ ablat), fit(frames$bcg, "ML"))),
    REML_re_vs_fe = c(list(method = "REML", full = "~ ablat", reduced = "~ ablat", reduced_method = "FE"),
                      lrt_values(fit(frames$bcg, "REML", mods = ~ ablat), fit(frames$bcg, "FE", mods = ~ ablat)))
  )
)

## ---- na.action = "na.omit" (item 3) ----------------------------------------------------------------------------
bna <- as.data.frame(bcg)
bna$yi[3] <- NA
bna$ablat[7] <- NA
bna$vi[11] <- NA
na <- list(
  data = list(yi = as.numeric(bna$yi), vi = as.numeric(bna$vi), ablat = bna$ablat),
  int_only = values(suppressWarnings(rma(yi, vi, data = bna))),
  ablat = values(suppressWarnings(rma(yi, vi, mods = ~ ablat, data = bna)))
)

out <- list(
  generator = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                   metadat = as.character(packageVersion("metadat")), script = "tests/r/metafor_univariate_breadth.R"),
  tight_control = tight,
  datasets = datasets,
  fits = fits, ci = cis, influence = infl, predict = preds, tests = tests, na = na
)
path <- file.path("tests", "data", "metafor_univariate_breadth.json")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"), path)
cat("wrote", path, "\n")

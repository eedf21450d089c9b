# Reference values for meta/effect_sizes.py, meta/univariate.py, meta/small_study.py and meta/aggregate.py.
#
# Run from the repository root with R >= 4 and metafor 3.8.1 / metadat 1.2.0:
#     Rscript tests/r/metafor_univariate_reference.R
# It writes tests/data/metafor_univariate.json and tests/data/power_reference.json at full double precision
# (jsonlite digits = NA).
# CI has no R: the JSON output is committed and the Python tests read only the JSON.
#
# Contents
#   bcg            dat.bcg log risk ratios (escalc "RR"), rma.uni with REML, ML, DL, FE (z) and REML (t),
#                  plus REML and ML with the moderator ablat (and predict at ablat = 30)
#   escalc         SMD (means/SDs, d, t, t from a two-sided p; vtype LS, LS2, UB), SMCC, SMCR (LS, LS2)
#   trimfill       dat.bcg and dat.hackshaw1998, estimators L0 and R0, models FE and REML
#   aggregate      dat.assink2016 aggregated within study, struct "CS", rho 0 and 0.6, weighted and not
#   regtest        dat.egger2001 (OR, subset -16), REML base model: model "lm" and "rma", predictors sei and vi;
#                  FE base model with model "rma"; multilevel Egger/PEESE on dat.assink2016 (rma.mv, sqrt(vi) or vi
#                  as a moderator, random = ~ 1 | study/esid)

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out <- list(
  generator = list(
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    metadat = as.character(packageVersion("metadat"))
  )
)

num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)

rma_values <- function(res, newmods = NULL) {
  pred <- if (is.null(newmods)) predict(res) else predict(res, newmods = newmods)
  fs <- fitstats(res)
  list(
    method = res$method, test = res$test, k = res$k, p = res$p,
    names = rownames(res$beta),
    beta = c(res$beta), se = c(res$se), zval = c(res$zval), pval = c(res$pval),
    ci_lb = c(res$ci.lb), ci_ub = c(res$ci.ub), vb = unname(res$vb),
    tau2 = num(res$tau2), se_tau2 = num(res$se.tau2),
    QE = num(res$QE), QEp = num(res$QEp), QM = num(res$QM), QMp = num(res$QMp),
    QMdf = num(res$QMdf),
    I2 = num(res$I2), H2 = num(res$H2),
    logLik = as.numeric(logLik(res)), deviance = as.numeric(deviance(res)),
    AIC = as.numeric(AIC(res)), BIC = as.numeric(BIC(res)), AICc = as.numeric(fs[5, 1]),
    pred = num(pred$pred), pred_se = num(pred$se),
    pi_lb = num(if (is.null(pred$pi.lb)) pred$cr.lb else pred$pi.lb),
    pi_ub = num(if (is.null(pred$pi.ub)) pred$cr.ub else pred$pi.ub),
    weights = as.numeric(weights(res)),
    fitted = as.numeric(fitted(res)), residuals = as.numeric(residuals(res))
  )
}

## ---- dat.bcg univariate models ---------------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
out$bcg <- list(
  data = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat, year = bcg$year),
  REML = rma_values(rma(yi, vi, data = bcg, method = "REML")),
  ML = rma_values(rma(yi, vi, data = bcg, method = "ML")),
  DL = rma_values(rma(yi, vi, data = bcg, method = "DL")),
  FE = rma_values(rma(yi, vi, data = bcg, method = "FE")),
  REML_t = rma_values(rma(yi, vi, data = bcg, method = "REML", test = "t")),
  REML_ablat = rma_values(rma(yi, vi, mods = ~ ablat, data = bcg, method = "REML"), newmods = 30),
  ML_ablat = rma_values(rma(yi, vi, mods = ~ ablat, data = bcg, method = "ML"), newmods = 30),
  DL_ablat_year_t = rma_values(rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "DL", test = "t"),
                               newmods = c(30, 1960))
)

## ---- escalc: standardised mean differences ---------------------------------------------------
smd_case <- function(e) list(yi = as.numeric(e$yi), vi = as.numeric(e$vi))
nd <- dat.normand1999
esc <- list()
esc$normand = list(
  data = list(m1i = nd$m1i, sd1i = nd$sd1i, n1i = nd$n1i, m2i = nd$m2i, sd2i = nd$sd2i, n2i = nd$n2i),
  SMD_LS = smd_case(escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = nd)),
  SMD_LS2 = smd_case(escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                            data = nd, vtype = "LS2")),
  SMD_UB = smd_case(escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                           data = nd, vtype = "UB"))
)
# d and t inputs (escalc "SMD" with di= / ti=)
d_in <- list(di = c(0.5, -0.3, 1.2), ti = c(2.1, -1.4, 3.3), n1i = c(20, 35, 12), n2i = c(22, 30, 12))
esc$smd_d <- c(d_in, smd_case(escalc("SMD", di = d_in$di, n1i = d_in$n1i, n2i = d_in$n2i)))
esc$smd_t <- c(d_in, smd_case(escalc("SMD", ti = d_in$ti, n1i = d_in$n1i, n2i = d_in$n2i)))
# escalc.Rd (metafor >= 4.0) example: a two-sided p-value of -0.018 (sign = direction) with n1i = n2i = 20.
# metafor 3.8.1 has no pi= argument, so the t statistic is formed exactly as metafor 4 does,
# sign(pi) * qt(abs(pi)/2, df = n1i + n2i - 2, lower.tail = FALSE), and given to escalc via ti=.
t_p <- sign(-0.018) * qt(abs(-0.018) / 2, df = 20 + 20 - 2, lower.tail = FALSE)
esc$smd_p <- c(list(pi = -0.018, n1i = 20, n2i = 20, ti = t_p),
               smd_case(escalc("SMD", ti = t_p, n1i = 20, n2i = 20)))
# SMCC / SMCR on a small pre-post data set (post = m1i, pre = m2i)
pp <- data.frame(m1i = c(30.6, 23.5, 0.5, 53.4, 35.6), m2i = c(38.1, 34.2, 1.1, 43.2, 40.9),
                 sd1i = c(19.2, 18.0, 0.90, 14.5, 17.2), sd2i = c(15.1, 22.1, 1.00, 13.0, 16.9),
                 ni = c(20, 50, 9, 10, 14), ri = c(0.47, 0.64, 0.77, 0.89, 0.44))
esc$prepost <- list(
  data = as.list(pp),
  SMCC_LS = smd_case(escalc("SMCC", m1i = m1i, m2i = m2i, sd1i = sd1i, sd2i = sd2i, ni = ni, ri = ri, data = pp)),
  SMCC_LS2 = smd_case(escalc("SMCC", m1i = m1i, m2i = m2i, sd1i = sd1i, sd2i = sd2i, ni = ni, ri = ri, data = pp,
                             vtype = "LS2")),
  SMCR_LS = smd_case(escalc("SMCR", m1i = m1i, m2i = m2i, sd1i = sd1i, ni = ni, ri = ri, data = pp)),
  SMCR_LS2 = smd_case(escalc("SMCR", m1i = m1i, m2i = m2i, sd1i = sd1i, ni = ni, ri = ri, data = pp,
                             vtype = "LS2"))
)
# escalc.Rd (metafor >= 4.0) SMCC example with pi = -0.018 and ni = 50 (ri = 0.7).  metafor 3.8.1 cannot take
# t or p for SMCC, so this case is the metafor 4 formula written out with metafor's own J (.cmicalc):
# t = sign(pi) qt(|pi|/2, ni - 1, upper), d = t / sqrt(ni), yi = J(ni - 1) d, vi = 1/ni + yi^2 / (2 ni).
t_c <- sign(-0.018) * qt(abs(-0.018) / 2, df = 50 - 1, lower.tail = FALSE)
y_c <- metafor:::.cmicalc(50 - 1) * t_c / sqrt(50)
esc$smcc_p <- list(pi = -0.018, ni = 50, ti = t_c, yi = y_c, vi = 1 / 50 + y_c^2 / (2 * 50))
esc$J <- list(m = c(2, 3, 5, 10, 38, 100, 1000), J = metafor:::.cmicalc(c(2, 3, 5, 10, 38, 100, 1000)))
out$escalc <- esc

## ---- trim and fill ---------------------------------------------------------------------------------
tf_values <- function(res, estimator) {
  tf <- trimfill(res, estimator = estimator)
  list(
    method = res$method, estimator = estimator, k0 = tf$k0, se_k0 = tf$se.k0, side = tf$side,
    p_k0 = num(tf$p.k0), beta = c(tf$beta), se = c(tf$se), zval = c(tf$zval), pval = c(tf$pval),
    ci_lb = c(tf$ci.lb), ci_ub = c(tf$ci.ub), tau2 = num(tf$tau2),
    yi = as.numeric(tf$yi), vi = as.numeric(tf$vi), fill = as.logical(tf$fill)
  )
}
hk <- dat.hackshaw1998
tfl <- list(
  bcg = list(data = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi))),
  hackshaw = list(data = list(yi = hk$yi, vi = hk$vi))
)
for (m in c("FE", "REML")) {
  for (e in c("L0", "R0")) {
    tfl$bcg[[paste(m, e, sep = "_")]] <- tf_values(rma(yi, vi, data = bcg, method = m), e)
    tfl$hackshaw[[paste(m, e, sep = "_")]] <- tf_values(rma(yi, vi, data = hk, method = m), e)
  }
}
# forced side (the opposite of the automatic choice for dat.bcg)
tf_left <- trimfill(rma(yi, vi, data = bcg, method = "FE"), side = "left")
tfl$bcg$FE_L0_left <- list(k0 = tf_left$k0, se_k0 = tf_left$se.k0, side = tf_left$side, beta = c(tf_left$beta),
                           se = c(tf_left$se), ci_lb = c(tf_left$ci.lb), ci_ub = c(tf_left$ci.ub))
out$trimfill <- tfl

## ---- aggregate -------------------------------------------------------------------------------
as <- escalc(yi = yi, vi = vi, data = dat.assink2016)
agg <- list(data = list(study = as$study, esid = as$esid, yi = as.numeric(as$yi), vi = as.numeric(as$vi)))
for (rho in c(0, 0.6)) {
  for (w in c(TRUE, FALSE)) {
    a <- aggregate(as, cluster = study, rho = rho, weighted = w)
    agg[[paste0("rho", rho, if (w) "_weighted" else "_unweighted")]] <-
      list(rho = rho, weighted = w, cluster = a$study, yi = as.numeric(a$yi), vi = as.numeric(a$vi))
  }
}
out$aggregate <- agg

## ---- regtest -----------------------------------------------------------------------------------
eg <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)
eg <- eg[-16, ]
reg_values <- function(rt) {
  fit <- rt$fit
  if (inherits(fit, "lm")) {
    cf <- summary(fit)$coefficients
    b <- cf[, 1]; se <- cf[, 2]
  } else {
    b <- c(fit$beta); se <- c(fit$se)
  }
  list(model = rt$model, predictor = rt$predictor, zval = rt$zval, pval = rt$pval, dfs = num(rt$dfs),
       est = num(rt$est), ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub),
       coef = as.numeric(b), coef_se = as.numeric(se), tau2 = if (inherits(fit, "lm")) NA_real_ else num(fit$tau2))
}
res_eg <- rma(yi, vi, data = eg)
res_eg_fe <- rma(yi, vi, data = eg, method = "FE")
out$regtest <- list(
  data = list(yi = as.numeric(eg$yi), vi = as.numeric(eg$vi)),
  base = list(tau2 = res_eg$tau2, beta = c(res_eg$beta)),
  lm_sei = reg_values(regtest(res_eg, model = "lm")),
  rma_sei = reg_values(regtest(res_eg)),
  rma_vi = reg_values(regtest(res_eg, predictor = "vi")),
  lm_vi = reg_values(regtest(res_eg, model = "lm", predictor = "vi")),
  fe_rma_sei = reg_values(regtest(res_eg_fe))
)

# multilevel Egger / PEESE (metafor's regtest refuses rma.mv; done by hand as Viechtbauer suggests):
# rma.mv(yi, vi, mods = ~ sqrt(vi) (or ~ vi), random = ~ 1 | study/esid) on dat.assink2016
ml_values <- function(res) list(beta = c(res$beta), se = c(res$se), zval = c(res$zval), pval = c(res$pval),
                                ci_lb = c(res$ci.lb), ci_ub = c(res$ci.ub), sigma2 = res$sigma2)
out$regtest$multilevel <- list(
  data = list(yi = as.numeric(as$yi), vi = as.numeric(as$vi), study = as$study, esid = as$esid),
  sei = ml_values(rma.mv(yi, vi, mods = ~ sqrt(vi), random = ~ 1 | study/esid, data = as)),
  vi = ml_values(rma.mv(yi, vi, mods = ~ vi, random = ~ 1 | study/esid, data = as))
)

path <- file.path("tests", "data", "metafor_univariate.json")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), path)
cat("wrote", path, "\n")

## ---- power (tests/data/power_reference.json) --------------------------------------------------
# metapower is not installed here; this is an independent R evaluation of the algorithm metapower 0.2.2
# documents (Jackson & Turner 2017), in the original x-parameterisation with integrate(rel.tol = 1e-14),
# to check meta/power.py (which integrates in u = df x^2) well beyond the 7 published digits.
jt_cdf <- function(t, k, lam, i2) {
  df <- k - 1
  a <- sqrt(1 - i2)
  integrand <- function(x) x * pnorm(t * x - lam * a) * dchisq(df * x^2, df)
  pgamma(df * (1 - i2) / 2, df / 2) * pnorm((t - lam) * a) +
    2 * df * integrate(integrand, lower = a, upper = Inf, rel.tol = 1e-14)$value
}
jt_power <- function(es, v, k, i2, p = 0.05, two = TRUE) {
  c_alpha <- if (two) qnorm(1 - p / 2) else qnorm(1 - p)
  lam <- es / sqrt(v / k)
  if (two) {
    c(fixed = (1 - pnorm(c_alpha - lam)) + pnorm(-c_alpha - lam),
      random = 1 - (jt_cdf(c_alpha, k, lam, i2) - jt_cdf(-c_alpha, k, lam, i2)))
  } else {
    c(fixed = 1 - pnorm(c_alpha - lam), random = 1 - jt_cdf(c_alpha, k, lam, i2))
  }
}
power_cases <- list()
grid <- expand.grid(d = c(0.2, 0.3, 0.5), n = c(20, 60, 120), k = c(5, 10, 17), i2 = c(0, 0.25, 0.5, 0.75))
for (i in seq_len(nrow(grid))) {
  g <- grid[i, ]
  v <- round(4 / g$n + g$d^2 / (2 * g$n), 5)
  pw <- jt_power(g$d, v, g$k, g$i2)
  power_cases[[length(power_cases) + 1]] <- list(es_type = "d", effect_size = g$d, study_size = g$n, k = g$k,
                                                 i2 = g$i2, test_type = "two-tailed", variance = v,
                                                 fixed = unname(pw["fixed"]), random = unname(pw["random"]))
}
for (r in c(0.1, 0.3)) {
  z <- round(atanh(r), 2)
  pw <- jt_power(z, 1 / (50 - 3), 12, 0.5)
  power_cases[[length(power_cases) + 1]] <- list(es_type = "r", effect_size = r, study_size = 50, k = 12,
                                                 i2 = 0.5, test_type = "two-tailed", variance = 1 / 47,
                                                 fixed = unname(pw["fixed"]), random = unname(pw["random"]))
}
ct <- c(10, 20, 15, 25)
lor <- round(log(round(ct[1] * ct[4] / (ct[2] * ct[3]), 3)), 3)
vor <- round(sum(1 / ct), 3)
pw <- jt_power(lor, vor, 10, 0.25)
power_cases[[length(power_cases) + 1]] <- list(es_type = "or", con_table = ct, study_size = sum(ct), k = 10,
                                               i2 = 0.25, test_type = "two-tailed", variance = vor,
                                               fixed = unname(pw["fixed"]), random = unname(pw["random"]))
pw <- jt_power(0.3, round(4 / 20 + 0.3^2 / 40, 5), 10, 0.5, two = FALSE)
power_cases[[length(power_cases) + 1]] <- list(es_type = "d", effect_size = 0.3, study_size = 20, k = 10,
                                               i2 = 0.5, test_type = "one-tailed",
                                               variance = round(4 / 20 + 0.3^2 / 40, 5),
                                               fixed = unname(pw["fixed"]), random = unname(pw["random"]))
# metameta mapower_se formula: 1 - pnorm(qnorm(.975) * se, |delta|, se) + pnorm(qnorm(.025) * se, |delta|, se)
se <- c(0.479, 0.2, 0.35, 0.61, 0.15)
study <- lapply(c(0.1, 0.178, 0.2, 0.5), function(delta) list(
  effect = delta, se = se,
  power = (1 - pnorm(qnorm(1 - 0.05 / 2) * se, abs(delta), se)) + pnorm(qnorm(0.05 / 2) * se, abs(delta), se)))
ppath <- file.path("tests", "data", "power_reference.json")
writeLines(toJSON(list(generator = out$generator, mpower = power_cases, study_power = study),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE), ppath)
cat("wrote", ppath, "\n")

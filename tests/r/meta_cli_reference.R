# Reference values for `blockade meta pool` paths that the library fixtures do not cover on their own:
# predictions (with prediction intervals) from cluster-robust fits, robust inference after rows with missing
# values were omitted, and predictions of an equal-effects model.
#
#   Rscript tests/r/meta_cli_reference.R      (R >= 4, metafor 3.8.1, metadat, clubSandwich 0.5.8)
# writes tests/data/meta_cli_reference.json (jsonlite digits = NA).  CI has no R; the JSON is committed.
#
# Univariate fits use rma.uni's defaults (which meta/univariate.py reproduces); the multilevel fit uses tight
# nlminb control and an nlm polish, as tests/r/robust_reference.R, so its variance components are at the optimum.

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
  library(jsonlite)
})

ctrl <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 20000)
fit_mv <- function(random, data, mods = NULL) {
  args <- list(yi = quote(yi), V = quote(vi), random = random, data = data, control = ctrl)
  if (!is.null(mods)) args$mods <- mods
  res <- do.call(rma.mv, args)
  args$control <- list(optimizer = "nlm", gradtol = 1e-14, steptol = 1e-14, iterlim = 10000,
                       sigma2.init = pmax(res$sigma2, 1e-10))
  pol <- try(do.call(rma.mv, args), silent = TRUE)
  if (!inherits(pol, "try-error") && fitstats(pol)[1, 1] > fitstats(res)[1, 1]) res <- pol
  res
}
pred <- function(p) list(pred = as.numeric(p$pred), se = as.numeric(p$se), ci_lb = as.numeric(p$ci.lb),
                         ci_ub = as.numeric(p$ci.ub), pi_lb = if (is.null(p$pi.lb)) NULL else as.numeric(p$pi.lb),
                         pi_ub = if (is.null(p$pi.ub)) NULL else as.numeric(p$pi.ub),
                         df = if (is.null(p$ddf)) NULL else as.numeric(p$ddf))
rob <- function(r) list(beta = as.numeric(r$beta), se = as.numeric(r$se), tval = as.numeric(r$zval),
                        df = as.numeric(r$ddf), pval = as.numeric(r$pval), ci_lb = as.numeric(r$ci.lb),
                        ci_ub = as.numeric(r$ci.ub), QM = r$QM, QMdf = as.numeric(r$QMdf), QMp = r$QMp, n = r$n)

bcg <- as.data.frame(escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg))
bcg$grp <- c(1, 1, 2, 3, 4, 4, 5, 2, 3, 5, 6, 6, 1)
bcg_new <- data.frame(ablat = c(30, 40, 55), year = c(1970, 1980, 1950))
konst <- dat.konstantopoulos2011
konst$year_c <- konst$year - mean(konst$year)
konst_new <- data.frame(year_c = c(-10, 0, 7.25))

cases <- list()

# 1. predictions from CR2 and CR1 robust fits (univariate), and from the model itself
fit <- rma(yi, vi, mods = ~ ablat + year, data = bcg)
X_new <- as.matrix(bcg_new)
cases$bcg_ablat_year <- list(
  dataset = "bcg", mods = "~ ablat + year", method = "REML", test = "z", cluster = "grp",
  model = pred(predict(fit, newmods = X_new)),
  CR2 = pred(predict(robust(fit, cluster = bcg$grp, clubSandwich = TRUE), newmods = X_new)),
  CR1 = pred(predict(robust(fit, cluster = bcg$grp), newmods = X_new)))

# 2. predictions from a CR2 robust three-level fit (clusters = districts)
fitk <- fit_mv(~ 1 | district/school, konst, mods = ~ year_c)
cases$konst_year <- list(
  dataset = "konstantopoulos2011", levels = c("district", "school"), mods = "~ year_c", method = "REML",
  test = "z", cluster = "district", sigma2 = fitk$sigma2,
  CR2 = pred(predict(robust(fitk, cluster = konst$district, clubSandwich = TRUE), newmods = konst_new$year_c)))

# 3. robust inference after na.omit: rows 3 (yi), 7 (ablat) and 11 (vi) are left out; row 3 has no cluster id
na <- bcg[, c("yi", "vi", "ablat", "grp")]
na$yi[3] <- NA
na$vi[11] <- NA
na$ablat[7] <- NA
na$grp[3] <- NA
fitn <- rma(yi, vi, mods = ~ ablat, data = na)
cases$na_ablat <- list(
  dataset = "na", mods = "~ ablat", method = "REML", test = "z", cluster = "grp", k = fitn$k,
  omitted = which(!fitn$not.na), beta = as.numeric(fitn$beta),
  CR2 = rob(robust(fitn, cluster = na$grp, clubSandwich = TRUE)), CR1 = rob(robust(fitn, cluster = na$grp)))

# 4. an equal-effects model's predictions (metafor gives no prediction interval)
fitf <- rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "FE")
cases$bcg_fe <- list(dataset = "bcg", mods = "~ ablat + year", method = "FE", test = "z",
                     model = pred(predict(fitf, newmods = X_new)))

out <- list(
  generator = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                   clubSandwich = as.character(packageVersion("clubSandwich")),
                   script = "tests/r/meta_cli_reference.R"),
  datasets = list(
    bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat, year = bcg$year,
               grp = bcg$grp),
    konstantopoulos2011 = as.list(konst[, c("district", "school", "year_c", "yi", "vi")]),
    na = list(yi = as.numeric(na$yi), vi = as.numeric(na$vi), ablat = na$ablat, grp = na$grp)),
  newmods = list(bcg = as.list(bcg_new), konstantopoulos2011 = as.list(konst_new)),
  cases = cases
)
path <- file.path("tests", "data", "meta_cli_reference.json")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"), path)
cat("wrote", path, "\n")

# Reference values for meta/cluster_robust.py: cluster-robust inference for univariate and multilevel models.
#
#   Rscript tests/r/robust_reference.R      (R >= 4, metafor 3.8.1, metadat, clubSandwich 0.5.8)
# writes tests/data/robust_reference.json (jsonlite digits = NA).  CI has no R; the JSON is committed.
#
# * CR1 is metafor's default robust(fit, cluster) (adjust = TRUE: factor n/(n - p), t and F tests on n - p df).
# * CR2 is robust(fit, cluster, clubSandwich = TRUE), i.e. clubSandwich::vcovCR(type = "CR2") with the working
#   model's weights, coef_test(test = "Satterthwaite"), conf_int(test = "Satterthwaite") and
#   Wald_test(test = "HTZ") of the moderators; further Wald tests (constrain_zero of other subsets, and a
#   general constraint matrix) come from clubSandwich::Wald_test directly; linear contrasts (predictions)
#   from clubSandwich::linear_contrast.
# * Multilevel working models are fitted with tight nlminb control and an nlm polish (as in
#   tests/r/metafor_multilevel_reference.R) so their variance components are at the optimum that
#   meta/multilevel.py finds; univariate models use rma.uni's defaults, which meta/univariate.py reproduces.

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
  library(jsonlite)
})

ctrl <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 20000)
fit_mv <- function(random, data, mods = NULL, method = "REML") {
  args <- list(yi = quote(yi), V = quote(vi), random = random, data = data, method = method, control = ctrl)
  if (!is.null(mods)) args$mods <- mods
  res <- try(do.call(rma.mv, args), silent = TRUE)
  if (inherits(res, "try-error")) {  # nlminb with the tightened rel.tol can report false convergence
    args$control <- NULL
    res <- try(do.call(rma.mv, args), silent = TRUE)
  }
  if (inherits(res, "try-error")) {
    args$control <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000)
    res <- do.call(rma.mv, args)
  }
  args$control <- list(optimizer = "nlm", gradtol = 1e-14, steptol = 1e-14, iterlim = 10000,
                       sigma2.init = pmax(res$sigma2, 1e-10))
  pol <- try(do.call(rma.mv, args), silent = TRUE)
  if (!inherits(pol, "try-error") && fitstats(pol)[1, 1] > fitstats(res)[1, 1]) res <- pol
  res
}

num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
rob_values <- function(r) {
  list(beta = as.numeric(r$beta), se = as.numeric(r$se), vb = unname(as.matrix(r$vb)), tval = as.numeric(r$zval),
       df = as.numeric(r$ddf), pval = as.numeric(r$pval), ci_lb = as.numeric(r$ci.lb), ci_ub = as.numeric(r$ci.ub),
       QM = num(r$QM), QMdf = num(r$QMdf), QMp = num(r$QMp), n = r$n, vbest = r$vbest)
}
wald_cs <- function(fit, cluster, vb, constraints) {
  w <- Wald_test(fit, cluster = cluster, vcov = vb, test = "HTZ", constraints = constraints)
  list(Fstat = w$Fstat, delta = w$delta, df_num = w$df_num, df_denom = w$df_denom, p_val = w$p_val)
}
lc_cs <- function(fit, cluster, vb, C) {
  lc <- linear_contrast(fit, cluster = cluster, vcov = vb, test = "Satterthwaite", contrasts = C, p_values = TRUE)
  list(C = unname(C), est = as.numeric(lc$Est), se = as.numeric(lc$SE), df = as.numeric(lc$df),
       ci_lb = as.numeric(lc$CI_L), ci_ub = as.numeric(lc$CI_U), pval = as.numeric(lc$p_val))
}

cases <- list()
add <- function(name, dataset, model, levels, mods, method, test, cluster_col, fit, cluster, extra = list()) {
  message("case ", name)
  cr1 <- robust(fit, cluster = cluster)
  cr2 <- robust(fit, cluster = cluster, clubSandwich = TRUE)
  vb2 <- vcovCR(fit, cluster = cluster, type = "CR2")
  out <- list(name = name, dataset = dataset, model = model, levels = levels, mods = mods, method = method,
              test = test, cluster = cluster_col, CR1 = rob_values(cr1), CR2 = rob_values(cr2),
              model_beta = as.numeric(fit$beta),
              model_var = if (model == "multilevel") fit$sigma2 else fit$tau2)
  if (!fit$int.only) {
    p <- fit$p
    out$CR2_wald_each <- lapply(2:p, function(j) c(list(btt = j), wald_cs(fit, cluster, vb2, constrain_zero(j))))
    C <- rbind(c(0, rep(1, p - 1)), c(1, rep(0, p - 1)))
    out$CR2_wald_matrix <- c(list(C = unname(C)), wald_cs(fit, cluster, vb2, C))
    out$CR2_contrast <- lc_cs(fit, cluster, vb2, C)
    a <- anova(cr1, btt = 2:p)
    out$CR1_wald <- list(btt = 2:p, QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp)
    a <- anova(cr1, X = C)
    out$CR1_contrast <- list(C = unname(C), Xb = as.numeric(a$Xb), se = as.numeric(a$se), zval = as.numeric(a$zval),
                             pval = as.numeric(a$pval), QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp)
  }
  cases[[name]] <<- c(out, extra)
}

konst <- dat.konstantopoulos2011
konst$year_c <- konst$year - mean(konst$year)
assink <- dat.assink2016
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg <- as.data.frame(bcg)
bcg$alloc <- as.character(bcg$alloc)
# a cluster variable for the univariate data: trials grouped by allocation (3 clusters are too few for
# ablat + intercept with CR2 df, so group by a coarser latitude band crossed with allocation)
bcg$grp <- c(1, 1, 2, 3, 4, 4, 5, 2, 3, 5, 6, 6, 1)

rk <- ~ 1 | district/school
ra <- ~ 1 | study/esid
add("konst_reml", "konstantopoulos2011", "multilevel", c("district", "school"), NULL, "REML", "z", "district",
    fit_mv(rk, konst), konst$district)
add("konst_reml_year", "konstantopoulos2011", "multilevel", c("district", "school"), "~ year_c", "REML", "z",
    "district", fit_mv(rk, konst, mods = ~ year_c), konst$district)
add("assink_reml", "assink2016", "multilevel", c("study", "esid"), NULL, "REML", "z", "study",
    fit_mv(ra, assink), assink$study)
add("assink_reml_deltype_year", "assink2016", "multilevel", c("study", "esid"), "~ deltype + year", "REML", "z",
    "study", fit_mv(ra, assink, mods = ~ deltype + year), assink$study)
add("assink_ml_pubstatus", "assink2016", "multilevel", c("study", "esid"), "~ pubstatus", "ML", "z", "study",
    fit_mv(ra, assink, mods = ~ pubstatus, method = "ML"), assink$study)
add("bcg_reml", "bcg", "univariate", NULL, NULL, "REML", "z", "grp", rma(yi, vi, data = bcg), bcg$grp)
add("bcg_reml_ablat", "bcg", "univariate", NULL, "~ ablat", "REML", "z", "grp",
    rma(yi, vi, mods = ~ ablat, data = bcg), bcg$grp)
add("bcg_dl_ablat_year", "bcg", "univariate", NULL, "~ ablat + year", "DL", "z", "grp",
    rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "DL"), bcg$grp)
add("bcg_fe_ablat", "bcg", "univariate", NULL, "~ ablat", "FE", "z", "grp",
    rma(yi, vi, mods = ~ ablat, data = bcg, method = "FE"), bcg$grp)
add("bcg_reml_ablat_knha", "bcg", "univariate", NULL, "~ ablat", "REML", "knha", "grp",
    rma(yi, vi, mods = ~ ablat, data = bcg, test = "knha"), bcg$grp)

# clusters given out of order (ids not sorted by first appearance) must give the same results
shuf <- assink[c(seq(100, 51), seq(1, 50)), ]
add("assink_reml_shuffled", "assink2016_shuffled", "multilevel", c("study", "esid"), "~ pubstatus", "REML", "z",
    "study", fit_mv(ra, shuf, mods = ~ pubstatus), shuf$study)

out <- list(
  generator = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                   clubSandwich = as.character(packageVersion("clubSandwich")),
                   script = "tests/r/robust_reference.R"),
  datasets = list(
    konstantopoulos2011 = as.list(konst[, c("district", "school", "year_c", "yi", "vi")]),
    assink2016 = as.list(assink[, c("study", "esid", "yi", "vi", "pubstatus", "year", "deltype")]),
    assink2016_shuffled = as.list(shuf[, c("study", "esid", "yi", "vi", "pubstatus", "year", "deltype")]),
    bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat, year = bcg$year, grp = bcg$grp)
  ),
  cases = unname(cases)
)
path <- file.path("tests", "data", "robust_reference.json")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"), path)
cat("wrote", path, "\n")

# Reference values for the multilevel breadth of meta/ (issue 13): predict() at new moderator values,
# Wald tests (anova btt / X) and likelihood-ratio tests of rma.mv fits, the order of clusters in
# cooks.distance()/rstudent() with cluster=, and na.action = "na.omit".
#
#   Rscript tests/r/metafor_multilevel_breadth.R      (R >= 4, metafor 3.8.1, metadat)
# writes tests/data/metafor_multilevel_breadth.json (jsonlite digits = NA).  CI has no R; the JSON is committed.
#
# Every rma.mv fit uses tight nlminb control with an nlm polish (fit() below, as in
# tests/r/metafor_multilevel_reference.R), so the variance components are at the optimum meta/multilevel.py
# finds.  The cluster-deletion diagnostics repeat metafor's .cooks.distance.rma.mv / .rstudent.rma.mv with
# those tightly converged refits (cooks.distance() itself refits with the default control), and also record
# metafor's own cooks.distance(fit, cluster=) output order, which is sorted by cluster id.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

ctrl <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 20000)
fit <- function(random, data, mods = NULL, method = "REML", test = "z", dfs = "residual", sigma2 = NA) {
  args <- list(yi = quote(yi), V = quote(vi), random = random, data = data, method = method, test = test,
               dfs = dfs, control = ctrl, sigma2 = sigma2)
  if (!is.null(mods)) args$mods <- mods
  res <- try(suppressWarnings(do.call(rma.mv, args)), silent = TRUE)
  if (inherits(res, "try-error")) {
    args$control <- NULL
    res <- try(suppressWarnings(do.call(rma.mv, args)), silent = TRUE)
  }
  if (inherits(res, "try-error")) {
    args$control <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000)
    res <- suppressWarnings(do.call(rma.mv, args))
  }
  args$control <- list(optimizer = "nlm", gradtol = 1e-14, steptol = 1e-14, iterlim = 10000,
                       sigma2.init = pmax(res$sigma2, 1e-10))
  pol <- try(suppressWarnings(do.call(rma.mv, args)), silent = TRUE)
  if (!inherits(pol, "try-error") && fitstats(pol)[1, 1] > fitstats(res)[1, 1]) res <- pol
  res
}
num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)

konst <- dat.konstantopoulos2011
konst$year_c <- konst$year - mean(konst$year)
assink <- dat.assink2016
ra <- ~ 1 | study/esid
rk <- ~ 1 | district/school

## ---- predict at new moderator values (item 7) -------------------------------------------------------------
pred_values <- function(res, Xn) {
  pr <- predict(res, newmods = Xn)
  list(pred = num(pr$pred), se = num(pr$se), ci_lb = num(pr$ci.lb), ci_ub = num(pr$ci.ub),
       pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub))
}
lev <- levels(factor(assink$deltype))
nd <- data.frame(deltype = factor(c("covert", "general", "overt", "general"), levels = lev),
                 year = c(1995, 2003.5, 2010, 1990))
Xn <- model.matrix(~ deltype + year, nd)[, -1, drop = FALSE]
ndk <- data.frame(year_c = c(-10, 0, 7.25))
preds <- list(
  assink_newdata = list(deltype = as.character(nd$deltype), year = nd$year),
  konst_newdata = list(year_c = ndk$year_c),
  assink_reml = c(list(dataset = "assink2016", levels = c("study", "esid"), mods = "~ deltype + year",
                       method = "REML", test = "z", dfs = "residual"),
                  pred_values(fit(ra, assink, mods = ~ deltype + year), Xn)),
  assink_ml_t = c(list(dataset = "assink2016", levels = c("study", "esid"), mods = "~ deltype + year",
                       method = "ML", test = "t", dfs = "residual"),
                  pred_values(fit(ra, assink, mods = ~ deltype + year, method = "ML", test = "t"), Xn)),
  assink_reml_contain = c(list(dataset = "assink2016", levels = c("study", "esid"), mods = "~ deltype + year",
                               method = "REML", test = "t", dfs = "contain"),
                          pred_values(fit(ra, assink, mods = ~ deltype + year, test = "t", dfs = "contain"), Xn)),
  konst_reml_contain = c(list(dataset = "konstantopoulos2011", levels = c("district", "school"), mods = "~ year_c",
                              method = "REML", test = "t", dfs = "contain"),
                         pred_values(fit(rk, konst, mods = ~ year_c, test = "t", dfs = "contain"), ndk$year_c))
)
# the contain df actually used per prediction row (metafor: min(ddf[X.new[j, ] != 0]))
r_cont <- fit(ra, assink, mods = ~ deltype + year, test = "t", dfs = "contain")
preds$assink_reml_contain$model_ddf <- as.numeric(r_cont$ddf)

## ---- Wald tests (item 8) --------------------------------------------------------------------------------------
wald_btt <- function(res, btt) {
  a <- anova(res, btt = btt)
  list(btt = btt, QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp)
}
Lm <- rbind(c(0, 1, -1, 0), c(1, 0, 0, 2000), c(0, 0, 1, 0))
wald_X <- function(res) {
  a <- anova(res, X = Lm)
  list(X = unname(Lm), Xb = as.numeric(a$Xb), se = as.numeric(a$se), zval = as.numeric(a$zval),
       pval = as.numeric(a$pval), QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp, ddf = num(a$ddf))
}
full_z <- fit(ra, assink, mods = ~ deltype + year)
full_c <- r_cont
wald <- list(
  z = list(method = "REML", test = "z", dfs = "residual", deltype = wald_btt(full_z, 2:3),
           year = wald_btt(full_z, 4), default = wald_btt(full_z, NULL), contrasts = wald_X(full_z)),
  contain = list(method = "REML", test = "t", dfs = "contain", deltype = wald_btt(full_c, 2:3),
                 year = wald_btt(full_c, 4), default = wald_btt(full_c, NULL), contrasts = wald_X(full_c))
)

## ---- likelihood-ratio tests (item 8) -----------------------------------------------------------------------
lrt_values <- function(f, r) {
  a <- anova(f, r)
  list(LRT = a$LRT, pval = a$pval, parms_f = a$parms.f, parms_r = a$parms.r,
       fit_f = unname(as.numeric(a$fit.stats.f)), fit_r = unname(as.numeric(a$fit.stats.r)),
       QE_f = a$QE.f, QE_r = a$QE.r)
}
lrt <- list(
  ml_mods = c(list(method = "ML", full = "~ deltype + year", reduced = "~ year", sigma2_r = NULL),
              lrt_values(fit(ra, assink, mods = ~ deltype + year, method = "ML"),
                         fit(ra, assink, mods = ~ year, method = "ML"))),
  ml_vs_intercept = c(list(method = "ML", full = "~ deltype + year", reduced = NULL, sigma2_r = NULL),
                      lrt_values(fit(ra, assink, mods = ~ deltype + year, method = "ML"),
                                 fit(ra, assink, method = "ML"))),
  reml_sigma2_1 = c(list(method = "REML", full = "~ deltype", reduced = "~ deltype", sigma2_r = c(0, NA)),
                    lrt_values(fit(ra, assink, mods = ~ deltype), fit(ra, assink, mods = ~ deltype, sigma2 = c(0, NA))))
)

## ---- cluster order in cooks.distance / rstudent (item 2) --------------------------------------------------
# dat.assink2016 with the studies in a scrambled order (ids not sorted by first appearance)
set.seed(7)
perm_study <- sample(unique(assink$study))
scr <- do.call(rbind, lapply(perm_study, function(s) assink[assink$study == s, ]))
rownames(scr) <- NULL
r_scr <- fit(ra, scr)
cd_default <- cooks.distance(fit(ra, scr), cluster = scr$study)  # metafor's own output: sorted by id
ids <- unique(scr$study)
X <- model.matrix(r_scr)
svb <- chol2inv(chol(r_scr$vb))
cook <- numeric(length(ids)); X2 <- numeric(length(ids)); kid <- integer(length(ids))
resid <- numeric(nrow(scr)); se <- numeric(nrow(scr))
for (u in seq_along(ids)) {
  incl <- which(scr$study == ids[u])
  del <- fit(ra, scr[-incl, ])
  dfb <- as.vector(r_scr$beta) - as.vector(del$beta)
  cook[u] <- as.vector(crossprod(dfb, svb) %*% dfb)
  Mfull <- rma.mv(yi, vi, random = ra, data = scr, sigma2 = del$sigma2, outlist = "M=M")$M
  Xi <- X[incl, , drop = FALSE]
  e <- scr$yi[incl] - as.vector(Xi %*% del$beta)
  S <- as.matrix(Mfull[incl, incl, drop = FALSE]) + Xi %*% del$vb %*% t(Xi)
  resid[incl] <- e; se[incl] <- sqrt(diag(S))
  X2[u] <- as.vector(t(e) %*% chol2inv(chol(S)) %*% e)
  kid[u] <- length(incl)
}
o <- order(ids)
cluster_order <- list(
  data = as.list(scr[, c("study", "esid", "yi", "vi")]),
  first_appearance = ids,
  metafor_names = as.numeric(names(cd_default)),
  metafor_cooks = as.numeric(cd_default),
  ids = ids[o], cooks = cook[o], X2 = X2[o], k = kid[o],
  resid = resid, se = se, z = resid / se
)

## ---- na.omit (item 3) ------------------------------------------------------------------------------------
ana <- assink[, c("study", "esid", "yi", "vi", "deltype", "year")]
ana$yi[5] <- NA
# (a missing study or esid id is an error in rma.mv: "No NAs allowed in variables specified in the 'random'
# argument", whatever na.action says; meta/multilevel.py raises likewise)
ana$year[40] <- NA
ana$deltype[17] <- NA
ana$vi[88] <- NA
r_na <- suppressWarnings(fit(ra, ana, mods = ~ deltype + year))
na <- list(
  data = as.list(ana),
  not_na = as.logical(r_na$not.na),
  k = r_na$k, sigma2 = r_na$sigma2, beta = as.numeric(r_na$beta), se = as.numeric(r_na$se),
  QE = r_na$QE, QM = r_na$QM, logLik = as.numeric(logLik(r_na))
)

out <- list(
  generator = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                   metadat = as.character(packageVersion("metadat")), script = "tests/r/metafor_multilevel_breadth.R"),
  datasets = list(
    konstantopoulos2011 = as.list(konst[, c("district", "school", "year_c", "yi", "vi")]),
    assink2016 = as.list(assink[, c("study", "esid", "yi", "vi", "pubstatus", "year", "deltype")])
  ),
  predict = preds, wald = wald, lrt = lrt, cluster_order = cluster_order, na = na
)
path <- file.path("tests", "data", "metafor_multilevel_breadth.json")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"), path)
cat("wrote", path, "\n")

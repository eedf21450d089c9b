# Reference values for the reanalysis's cluster-robust (CR2) inference (issue 13, item 10).
#
#   Rscript tests/r/reanalysis_robust_reference.R      (R >= 4, metafor 3.8.1, clubSandwich 0.5.8)
# writes tests/data/reanalysis_robust_reference.json (jsonlite digits = NA).  CI has no R; the JSON is committed.
#
# Data: the bundled review's 8 study aggregates as `blockade reanalyse` analyses them (yi, vi from Table 1's
# 95 % CIs) and each study's MOR contrast (pp) from the default annotation (pkpd model, three_phase_binding since version 3, 1000
# virtual subjects, seed 1, window mean), copied at full precision from
#   python -c "from occupancy import reanalyse, ReanalysisSettings as S; u = reanalyse(settings=S(draws=0)).units; print(u[['study_id','yi','vi','MOR_contrast']])"
# The pooled estimate depends on yi/vi only; the rescaled and regression estimates also on the contrasts.
#
# Each study is its own cluster (one aggregate per study), so CR2 (robust(fit, cluster, clubSandwich = TRUE) =
# clubSandwich vcovCR(type = "CR2") with the working model's weights) reduces to the HC2-type correction of the
# weighted regression: V = B X'W diag(e_i^2 / (1 - h_ii)) W X B with B = (X'WX)^-1, h_ii = w_i x_i' B x_i.  The
# script checks that identity (stopifnot) and stores both.

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
  library(jsonlite)
})

study <- c("inagaki_20_59", "tarr_64", "inagaki_60_61_ross_62", "charles_58_s1", "charles_58_s2",
           "tchalova_macdonald_21", "tchalova_65", "rutgen_lamm_63")
yi <- c(-0.34, 0.08, -0.19, -2.5, -0.79, -0.18, 0.21, 0.05)
vi <- c(0.01562557399540595, 0.04813275521450328, 0.010939854180040566, 0.7173316401789359, 0.183680216762323,
        0.04061607967735464, 0.12755570608494649, 0.043759416720162266)
contrast <- c(77.74705915027852, 93.8338048903399, 93.1437303371142, 97.20466942351052, 97.20466942351052,
              90.30618164173849, 94.85627814224357, 74.19841099263684)
full <- 100
dat <- data.frame(study = study, yi = yi, vi = vi, contrast = contrast,
                  yi_adj = yi * full / contrast, vi_adj = vi * (full / contrast)^2)

hc2 <- function(fit) {
  X <- model.matrix(fit)
  w <- 1 / (fit$vi + fit$tau2)
  B <- solve(crossprod(X, w * X))
  e <- as.numeric(fit$yi - X %*% fit$beta)
  h <- w * rowSums((X %*% B) * X)
  B %*% crossprod(X, (w^2 * e^2 / (1 - h)) * X) %*% B
}

one <- function(fit, x = NULL) {
  r <- robust(fit, cluster = dat$study, clubSandwich = TRUE)
  vb <- vcovCR(fit, cluster = dat$study, type = "CR2")
  stopifnot(isTRUE(all.equal(unname(as.matrix(vb)), unname(hc2(fit)), tolerance = 1e-10)))
  model <- list(beta = as.numeric(fit$beta), se = as.numeric(fit$se), ci_lb = as.numeric(fit$ci.lb),
                ci_ub = as.numeric(fit$ci.ub), tau2 = fit$tau2)
  out <- list(model = model, vb_CR2 = unname(as.matrix(vb)), vb_HC2 = unname(hc2(fit)),
              robust = list(beta = as.numeric(r$beta), se = as.numeric(r$se), tval = as.numeric(r$zval),
                            df = as.numeric(r$ddf), pval = as.numeric(r$pval), ci_lb = as.numeric(r$ci.lb),
                            ci_ub = as.numeric(r$ci.ub), n = r$n))
  if (!is.null(x)) {
    C <- matrix(x, nrow = 1)
    lc <- linear_contrast(fit, cluster = dat$study, vcov = vb, test = "Satterthwaite", contrasts = C,
                          p_values = TRUE)
    pr <- predict(r, newmods = x[-1])
    pm <- predict(fit, newmods = x[-1])
    out$contrast <- list(x = x, est = as.numeric(lc$Est), se = as.numeric(lc$SE), df = as.numeric(lc$df),
                         ci_lb = as.numeric(lc$CI_L), ci_ub = as.numeric(lc$CI_U), pval = as.numeric(lc$p_val),
                         predict_robust = list(pred = pr$pred, se = pr$se, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub),
                         predict_model = list(pred = pm$pred, se = pm$se, ci_lb = pm$ci.lb, ci_ub = pm$ci.ub))
  }
  out
}

pooled <- rma(yi, vi, data = dat, method = "REML")
rescaled <- rma(yi_adj, vi_adj, data = dat, method = "REML")
regression <- rma(yi, vi, mods = ~ contrast, data = dat, method = "REML")

out <- list(
  generator = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                   clubSandwich = as.character(packageVersion("clubSandwich")),
                   script = "tests/r/reanalysis_robust_reference.R"),
  data = as.list(dat),
  full_contrast = full,
  pooled = one(pooled),
  rescaled = one(rescaled),
  regression = one(regression, c(1, full))
)
path <- file.path("tests", "data", "reanalysis_robust_reference.json")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"), path)
cat("wrote", path, "\n")

# Reference values for meta/effect_measures.py: metafor 3.8.1 escalc() for OR, RR, RD, COR, ZCOR, MD, ROM, PR, PLO, IRR.
#
#   Rscript tests/r/escalc_reference.R      (R >= 4, metafor 3.8.1, metadat)
# writes tests/data/escalc_reference.json (jsonlite digits = NA).  CI has no R; the JSON is committed.
#
# Every case records its inputs (NA as null), the escalc() arguments and yi/vi (NA as null).  Defaults are
# escalc's: add = 1/2, to = "only0", drop00 = FALSE, vtype = "LS"; other settings are given per case.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

cases <- list()
add_case <- function(name, measure, inputs, args = list()) {
  res <- suppressWarnings(do.call(escalc, c(list(measure = measure), inputs, args)))
  cases[[name]] <<- list(measure = measure, inputs = inputs, args = args,
                         yi = as.numeric(res$yi), vi = as.numeric(res$vi))
}

## ---- 2x2 tables --------------------------------------------------------------------------------------------
bcg <- dat.bcg
tab <- list(ai = bcg$tpos, bi = bcg$tneg, ci = bcg$cpos, di = bcg$cneg)
for (m in c("OR", "RR", "RD")) add_case(paste0("bcg_", m), m, tab)
add_case("bcg_RD_UB", "RD", tab, list(vtype = "UB"))
add_case("bcg_RD_AV", "RD", tab, list(vtype = "AV"))

nw <- dat.nielweise2007  # catheter infections: several zero cells, given as ai, n1i, ci, n2i
tabn <- list(ai = nw$ai, n1i = nw$n1i, ci = nw$ci, n2i = nw$n2i)
for (m in c("OR", "RR", "RD")) {
  add_case(paste0("niel_", m), m, tabn)
  add_case(paste0("niel_", m, "_all"), m, tabn, list(to = "all"))
  add_case(paste0("niel_", m, "_if0all"), m, tabn, list(to = "if0all"))
  add_case(paste0("niel_", m, "_none"), m, tabn, list(to = "none"))
  add_case(paste0("niel_", m, "_add01"), m, tabn, list(add = 0.1))
}
# double-zero rows, a full row, and missing cells
odd <- list(ai = c(0, 0, 5, 12, NA, 3, 20), n1i = c(30, 25, 40, 12, 50, NA, 20),
            ci = c(0, 3, 0, 10, 4, 2, 20), n2i = c(28, 25, 41, 15, 50, 30, 20))
for (m in c("OR", "RR", "RD")) {
  add_case(paste0("odd_", m), m, odd)
  add_case(paste0("odd_", m, "_drop00"), m, odd, list(drop00 = TRUE))
}

## ---- correlations ------------------------------------------------------------------------------------------
mc <- dat.mcdaniel1994[1:40, ]
cor_in <- list(ri = c(mc$ri, 0.5, NA, 0.3, -0.95), ni = c(mc$ni, 3, 50, NA, 2))
add_case("mcdaniel_COR", "COR", cor_in)
add_case("mcdaniel_COR_AV", "COR", cor_in, list(vtype = "AV"))
add_case("mcdaniel_ZCOR", "ZCOR", cor_in)

## ---- means ---------------------------------------------------------------------------------------------------
nd <- dat.normand1999
md_in <- list(m1i = nd$m1i, sd1i = nd$sd1i, n1i = nd$n1i, m2i = nd$m2i, sd2i = nd$sd2i, n2i = nd$n2i)
add_case("normand_MD", "MD", md_in)
add_case("normand_MD_HO", "MD", md_in, list(vtype = "HO"))
cu <- dat.curtis1998[1:30, ]
rom_in <- list(m1i = c(cu$m1i, 5, NA), sd1i = c(cu$sd1i, 1, 1), n1i = c(cu$n1i, 10, 10),
               m2i = c(cu$m2i, -2, 3), sd2i = c(cu$sd2i, 1, 1), n2i = c(cu$n2i, 10, 10))
for (v in c("LS", "HO", "AV", "AVHO")) add_case(paste0("curtis_ROM_", v), "ROM", rom_in, list(vtype = v))
add_case("curtis_MD", "MD", rom_in)

## ---- proportions ------------------------------------------------------------------------------------------------
pz <- dat.pritz1997
pr_in <- list(xi = c(pz$xi, 0, 25, NA, 7), ni = c(pz$ni, 20, 25, 30, NA))
for (m in c("PR", "PLO")) {
  add_case(paste0("pritz_", m), m, pr_in)
  add_case(paste0("pritz_", m, "_AV"), m, pr_in, list(vtype = "AV"))
  add_case(paste0("pritz_", m, "_none"), m, pr_in, list(to = "none"))
  add_case(paste0("pritz_", m, "_all"), m, pr_in, list(to = "all"))
}
add_case("pritz_PR_UB", "PR", pr_in, list(vtype = "UB"))
add_case("debruin_PLO_mi", "PLO", list(xi = dat.debruin2009$xi, mi = dat.debruin2009$mi))

## ---- incidence rates ------------------------------------------------------------------------------------------
hr <- dat.hart1999
irr_in <- list(x1i = c(hr$x1i, 0, 0, NA), t1i = c(hr$t1i, 100, 80, 50), x2i = c(hr$x2i, 4, 0, 3),
               t2i = c(hr$t2i, 120, 90, 60))
add_case("hart_IRR", "IRR", irr_in)
add_case("hart_IRR_if0all", "IRR", irr_in, list(to = "if0all"))
add_case("hart_IRR_drop00", "IRR", irr_in, list(drop00 = TRUE))
add_case("hart_IRR_none", "IRR", irr_in, list(to = "none"))

out <- list(
  generator = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                   metadat = as.character(packageVersion("metadat")), script = "tests/r/escalc_reference.R"),
  cases = cases
)
path <- file.path("tests", "data", "escalc_reference.json")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"), path)
cat("wrote", path, "\n")

# Reference design-based standard errors of a weighted least-squares cost model fitted
# under a CALIBRATED design, computed with R's survey package.
#
# Install (Debian): apt-get install -y r-cran-survey
# Run:              Rscript tests/reference/weights/calibrated_design.R
#
# Reads ../design/survey.csv (the design of the embedded survey's default formula: service,
# stratum, fpc, weight = design weight, departement, y, b, x1...x8; written by the Rust
# test `design_errors::export_survey_design`), services.csv and margins.csv (written by
# export.py). The survey's services are joined to services.csv by service id; the design
# svydesign(ids = ~1, strata = ~stratum, weights = ~weight, fpc = ~fpc) is calibrated by
# RAKING on the margins (auxiliary variables built as in weights_reference.R, margins.R).
# Writes calibrated_design_reference.csv, rows name,index,value (%.17g):
#   weight_cal          the calibrated weights w = d g (index = row of survey.csv, from 0);
#   theta_free          svyglm(y ~ 0 + x1 + ... + x8) on the calibrated design;
#   se_lin_free         its sqrt(diag(vcov)): linearisation WITH the calibration
#                       adjustment (svyrecvar's greg_calibration step);
#   se_lin_free_uncal   the same fit on a plain svydesign whose weights are w (no
#                       calibration adjustment), for comparison;
#   theta_nat           the KKT fit with national neutrality sum w x theta = sum w b, w the
#                       calibrated weights (as design_reference.R, w in place of d);
#   se_lin_nat          svytotal of its influence values z = phi / w on the calibrated
#                       design (update()d with the z columns): WITH the adjustment;
#   se_lin_nat_uncal    the same svytotal on the plain design with weights w.
# The script also recomputes se_lin_free and se_lin_nat by hand with the adjustment
# formula of README.md (residuals of the d-weighted regression of the influence values on
# the calibration variables, then the stratified with-replacement formula with fpc) and
# stops if they differ from R's by more than 1e-10 relative.

suppressMessages(library(survey))
options(survey.lonely.psu = "fail")

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
source(file.path(here, "margins.R"))

EPSILON <- 1e-14
MAXIT <- 500
TOL <- 1e-10

fmt <- function(v) sprintf("%.17g", v)

kkt_fit <- function(X, y, w, A, bvec) {
  k <- ncol(X)
  H <- crossprod(X, w * X); g <- crossprod(X, w * y)
  m <- nrow(A)
  K <- rbind(cbind(2 * H, t(A)), cbind(A, matrix(0, m, m)))
  sol <- solve(K, c(2 * g, bvec))
  list(theta = sol[1:k], lambda = sol[-(1:k)], K = K)
}

s <- read.csv(file.path(here, "..", "design", "survey.csv"),
              colClasses = c(service = "character", stratum = "character",
                             departement = "character"))
sv <- read_services(file.path(here, "services.csv"))
m <- read_margins(file.path(here, "margins.csv"))
at <- match(s$service, sv$service_id)
if (anyNA(at)) stop("services of survey.csv missing from services.csv")
sv <- sv[at, ]
if (any(sv$design_weight != s$weight) || any(sv$stratum != s$stratum) || any(sv$fpc != s$fpc))
  stop("survey.csv and services.csv disagree on the design")
M <- aux_matrix(sv, m)
pop <- population(m)

xs <- grep("^x[0-9]+$", names(s), value = TRUE)
X <- as.matrix(s[, xs]); k <- ncol(X)
fml <- as.formula(paste("y ~ 0 +", paste(xs, collapse = " + ")))

des <- svydesign(ids = ~1, strata = ~stratum, weights = ~weight, fpc = ~fpc,
                 data = cbind(s, M))
cal <- calibrate(des, cal_formula(M), population = pop, calfun = "raking",
                 epsilon = EPSILON, maxit = MAXIT)
w <- weights(cal)
miss <- max(abs(colSums(M * w) - pop) / abs(pop))
if (miss > TOL) stop("raking misses a total by ", miss, " relative")

# Free fit.
free <- svyglm(fml, design = cal)
plain <- svydesign(ids = ~1, strata = ~stratum, weights = ~weight_cal, fpc = ~fpc,
                   data = cbind(s, weight_cal = w))
free_uncal <- svyglm(fml, design = plain)
if (max(abs(coef(free) - coef(free_uncal)) / abs(coef(free))) > 1e-12)
  stop("the two free fits disagree")

# National neutrality, with the calibrated weights.
full <- kkt_fit(X, s$y, w, matrix(colSums(w * X), 1), sum(w * s$b))
theta <- full$theta
e <- as.vector(s$y - X %*% theta)
U <- cbind(2 * w * X * e - w * X * full$lambda, -w * (as.vector(X %*% theta) - s$b))
phi <- t(solve(full$K, t(U)))[, 1:k, drop = FALSE]
z <- phi / w
colnames(z) <- paste0("z", 1:k)
zf <- as.formula(paste("~", paste(colnames(z), collapse = " + ")))
cal_z <- do.call(update, c(list(cal), as.list(as.data.frame(z))))
lin <- svytotal(zf, cal_z)
plain_z <- do.call(update, c(list(plain), as.list(as.data.frame(z))))
lin_uncal <- svytotal(zf, plain_z)

# The adjustment by hand: weighted influence values w a -> w (a - M B), B the regression
# of a on the calibration variables with the design weights d; then per stratum h,
# (1 - n_h/N_h) n_h/(n_h - 1) times the sum of squares about the stratum mean.
d <- s$weight
by_hand <- function(wa) {
  a <- wa / w
  B <- qr.solve(M * sqrt(d), a * sqrt(d))
  r <- w * (a - M %*% B)
  v <- matrix(0, ncol(wa), ncol(wa))
  for (h in unique(s$stratum)) {
    i <- which(s$stratum == h); n <- length(i); N <- s$fpc[i[1]]
    c <- sweep(r[i, , drop = FALSE], 2, colMeans(r[i, , drop = FALSE]))
    v <- v + (1 - n / N) * n / (n - 1) * crossprod(c)
  }
  sqrt(diag(v))
}
# svyglm's weighted influence values: X e times its glm weights (w rescaled to mean 1)
# times the inverse of X' W X in those weights; the rescaling cancels (= w X e (X'WX)^-1).
wa_free <- (X * resid(free, "working") * free$weights) %*% free$naive.cov
se_free_hand <- by_hand(wa_free)
se_nat_hand <- by_hand(phi)
check <- function(a, b, what) {
  rel <- max(abs(a - b) / abs(b))
  if (rel > TOL) stop(what, ": the formula by hand differs from R by ", rel)
  rel
}
r1 <- check(se_free_hand, sqrt(diag(vcov(free))), "se_lin_free")
r2 <- check(se_nat_hand, sqrt(diag(vcov(lin))), "se_lin_nat")

idx <- function(v) 0:(length(v) - 1)
out <- rbind(
  data.frame(name = "weight_cal", index = idx(w), value = fmt(w)),
  data.frame(name = "theta_free", index = idx(coef(free)), value = fmt(coef(free))),
  data.frame(name = "se_lin_free", index = 0:(k - 1), value = fmt(sqrt(diag(vcov(free))))),
  data.frame(name = "se_lin_free_uncal", index = 0:(k - 1),
             value = fmt(sqrt(diag(vcov(free_uncal))))),
  data.frame(name = "theta_nat", index = 0:(k - 1), value = fmt(theta)),
  data.frame(name = "se_lin_nat", index = 0:(k - 1), value = fmt(sqrt(diag(vcov(lin))))),
  data.frame(name = "se_lin_nat_uncal", index = 0:(k - 1),
             value = fmt(sqrt(diag(vcov(lin_uncal)))))
)
write.csv(out, file.path(here, "calibrated_design_reference.csv"), row.names = FALSE,
          quote = FALSE)
cat(sprintf("raking misfit %.3g; adjustment formula by hand vs R: %.3g, %.3g\n", miss, r1, r2))
show <- data.frame(se_free = sqrt(diag(vcov(free))), se_free_uncal = sqrt(diag(vcov(free_uncal))),
                   se_nat = sqrt(diag(vcov(lin))), se_nat_uncal = sqrt(diag(vcov(lin_uncal))))
print(signif(cbind(show, ratio_free = show$se_free / show$se_free_uncal,
                   ratio_nat = show$se_nat / show$se_nat_uncal), 5))
cat("calibrated_design_reference.csv written\n")

# Reference vectors of design-based standard errors, computed with R's survey package.
#
# Install (Debian): apt-get install -y r-cran-survey
# Run:              Rscript tests/reference/design/design_reference.R
#
# For each example (small.csv, written here; survey.csv, the design of the embedded
# survey's default formula, written by the Rust test `design_errors::export_survey_design`)
# it writes <example>_reference.csv with rows name,index,value:
#   theta_free, se_lin_free, se_jk_free    weighted least squares, no neutrality:
#                                          svyglm on svydesign(ids = ~1, strata, weights,
#                                          fpc) and on its JKn replicate design;
#   theta_nat, se_lin_nat, se_jk_nat       with national neutrality Σ w x θ = Σ w b: the
#                                          KKT solution; linearisation: svytotal of the
#                                          influence values K⁻¹ U_s (written below);
#                                          jackknife: withReplicates refitting the KKT
#                                          system with each replicate's weights.
# Options that change the figures are pinned: replicate variances centred on the
# replicates' mean (survey.replicates.mse = FALSE), a stratum of one service an error.

suppressMessages(library(survey))
options(survey.replicates.mse = FALSE, survey.lonely.psu = "fail")

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))

# The small stratified example: 3 strata of 5, 4 and 6 services drawn from 50, 20 and 60.
write_small <- function(path) {
  set.seed(20261201)
  n_h <- c(5, 4, 6); N_h <- c(50, 20, 60)
  stratum <- rep(c("a", "b", "c"), n_h)
  fpc <- rep(N_h, n_h); weight <- fpc / rep(n_h, n_h)
  n <- sum(n_h)
  users <- round(runif(n, 20, 200))
  hours <- round(users * runif(n, 80, 140))
  has <- as.numeric(runif(n) < 0.5)
  x1 <- users * 12; x2 <- hours; x3 <- has * hours
  y <- 30 * x1 + 18 * x2 + 4 * x3 + rnorm(n, 0, 20000)
  b <- y * (1 + rnorm(n, 0, 0.08))
  d <- data.frame(service = sprintf("S%02d", 1:n), stratum = stratum, fpc = fpc,
                  weight = weight, departement = rep(c("01", "02"), length.out = n),
                  y = y, b = b, x1 = x1, x2 = x2, x3 = x3)
  write.csv(d, path, row.names = FALSE, quote = TRUE)
}

fmt <- function(v) sprintf("%.17g", v)

kkt_fit <- function(X, y, w, A, bvec) {
  k <- ncol(X)
  H <- crossprod(X, w * X); g <- crossprod(X, w * y)
  m <- nrow(A)
  K <- rbind(cbind(2 * H, t(A)), cbind(A, matrix(0, m, m)))
  sol <- solve(K, c(2 * g, bvec))
  list(theta = sol[1:k], lambda = sol[-(1:k)], K = K)
}

reference <- function(name) {
  d <- read.csv(file.path(here, paste0(name, ".csv")), colClasses = c(service = "character",
                stratum = "character", departement = "character"))
  xs <- grep("^x[0-9]+$", names(d), value = TRUE)
  X <- as.matrix(d[, xs]); k <- ncol(X)
  des <- svydesign(ids = ~1, strata = ~stratum, weights = ~weight, fpc = ~fpc, data = d)
  rdes <- as.svrepdesign(des, type = "JKn")
  f <- as.formula(paste("y ~ 0 +", paste(xs, collapse = " + ")))
  free <- svyglm(f, design = des)
  free_jk <- svyglm(f, design = rdes)
  # National neutrality.
  nat <- function(w) kkt_fit(X, d$y, w, matrix(colSums(w * X), 1), sum(w * d$b))
  full <- nat(d$weight)
  theta <- full$theta
  e <- as.vector(d$y - X %*% theta)
  w <- d$weight
  U <- cbind(2 * w * X * e - w * X * full$lambda, -w * (as.vector(X %*% theta) - d$b))
  phi <- t(solve(full$K, t(U)))[, 1:k, drop = FALSE]
  z <- phi / w
  colnames(z) <- paste0("z", 1:k)
  des_z <- svydesign(ids = ~1, strata = ~stratum, weights = ~weight, fpc = ~fpc,
                     data = cbind(d, z))
  lin <- svytotal(as.formula(paste("~", paste(colnames(z), collapse = " + "))), des_z)
  jk <- withReplicates(rdes, function(wr, data) nat(wr)$theta)
  out <- rbind(
    data.frame(name = "theta_free", index = 0:(k - 1), value = fmt(coef(free))),
    data.frame(name = "se_lin_free", index = 0:(k - 1), value = fmt(sqrt(diag(vcov(free))))),
    data.frame(name = "se_jk_free", index = 0:(k - 1), value = fmt(sqrt(diag(vcov(free_jk))))),
    data.frame(name = "theta_nat", index = 0:(k - 1), value = fmt(theta)),
    data.frame(name = "se_lin_nat", index = 0:(k - 1), value = fmt(sqrt(diag(vcov(lin))))),
    data.frame(name = "se_jk_nat", index = 0:(k - 1), value = fmt(sqrt(diag(vcov(jk)))))
  )
  write.csv(out, file.path(here, paste0(name, "_reference.csv")), row.names = FALSE, quote = FALSE)
  cat(name, ": written\n")
}

write_small(file.path(here, "small.csv"))
reference("small")
if (file.exists(file.path(here, "survey.csv"))) reference("survey")

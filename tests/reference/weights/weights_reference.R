# Reference calibrated survey weights (calage sur marges, Deville-Sarndal), computed with
# R's survey package (calibrate / grake).
#
# Install (Debian): apt-get install -y r-cran-survey   (lpSolve and jsonlite come with it)
# Run:              Rscript tests/reference/weights/weights_reference.R
# Reads services.csv, margins.csv and margins_tight.csv (written by export.py) and writes
#   weights_reference.csv   service_id, design_weight, linear, raking, logit, truncated:
#                           the calibrated weights weights(calibrate(...)) per method;
#   weights_reference.json  bounds, epsilon, maxit, versions, the achieved misfits, and
#                           the infeasible cases (what R does, which rows cannot hold).
# Stops if a calibrated design misses a total by more than 1e-10 relative, if a weight is
# not positive, or if a g-weight leaves its bounds.

suppressMessages(library(survey))
options(survey.lonely.psu = "fail")

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
source(file.path(here, "margins.R"))

EPSILON <- 1e-14
MAXIT <- 500
BOUNDS <- list(logit = c(0.4, 1.5), truncated = c(0.4, 1.6))
TOL <- 1e-10

fmt <- function(v) sprintf("%.17g", v)

d <- read_services(file.path(here, "services.csv"))
m <- read_margins(file.path(here, "margins.csv"))
X <- aux_matrix(d, m)
pop <- population(m)
stopifnot(all(X >= 0), all(d$design_weight > 0))
d <- cbind(d, X)
des <- svydesign(ids = ~1, strata = ~stratum, weights = ~design_weight, fpc = ~fpc, data = d)
f <- cal_formula(X)

methods <- list(
  linear = list(calfun = "linear", bounds = c(-Inf, Inf)),
  raking = list(calfun = "raking", bounds = c(-Inf, Inf)),
  logit = list(calfun = "logit", bounds = BOUNDS$logit),
  truncated = list(calfun = "linear", bounds = BOUNDS$truncated)
)

misfit <- function(w, X, pop) {
  r <- colSums(X * w) - pop
  list(relative = max(abs(r) / abs(pop)), r_criterion = max(abs(r) / (1 + abs(pop))))
}

weights_out <- data.frame(service_id = d$service_id, design_weight = fmt(d$design_weight))
summary <- list()
for (name in names(methods)) {
  mt <- methods[[name]]
  cal <- calibrate(des, f, population = pop, calfun = mt$calfun, bounds = mt$bounds,
                   epsilon = EPSILON, maxit = MAXIT)
  w <- weights(cal)
  g <- w / d$design_weight
  fit <- misfit(w, X, pop)
  if (fit$relative > TOL) stop(name, ": a total is missed by ", fit$relative, " relative")
  if (any(w <= 0)) stop(name, ": a weight is not positive")
  b <- mt$bounds
  if (any(g < b[1] * (1 - 1e-12)) || any(g > b[2] * (1 + 1e-12)))
    stop(name, ": a g-weight leaves [", b[1], ", ", b[2], "]")
  at_lower <- if (is.finite(b[1])) sum(abs(g - b[1]) <= 1e-12 * abs(b[1])) else 0L
  at_upper <- if (is.finite(b[2])) sum(abs(g - b[2]) <= 1e-12 * abs(b[2])) else 0L
  near_lower <- sum(g < b[1] * 1.05)
  near_upper <- sum(g > b[2] * 0.95)
  if (name == "logit" && near_lower + near_upper < 3) stop("logit: no g-weight near the bounds")
  if (name == "truncated" && at_lower + at_upper < 3) stop("truncated: the bounds are not active")
  weights_out[[name]] <- fmt(w)
  summary[[name]] <- list(
    calfun = mt$calfun,
    bounds = if (all(is.finite(b))) b else NULL,
    max_relative_misfit = fit$relative,
    max_r_criterion_misfit = fit$r_criterion,
    g_min = min(g), g_max = max(g),
    g_at_lower = at_lower, g_at_upper = at_upper,
    g_within_5pct_of_lower = if (is.finite(b[1])) near_lower else NULL,
    g_within_5pct_of_upper = if (is.finite(b[2])) near_upper else NULL
  )
  cat(sprintf("%-10s misfit %.3g  g in [%.6f, %.6f]  at L %d, at U %d, within 5%% of L %d, of U %d\n",
              name, fit$relative, min(g), max(g), at_lower, at_upper, near_lower, near_upper))
}
write.csv(weights_out, file.path(here, "weights_reference.csv"), row.names = FALSE, quote = FALSE)

# ---- Infeasible cases ------------------------------------------------------------------
# For a row j with nonnegative column x_j the totals reachable with g in [L, U] are
# [L sum(d x_j), U sum(d x_j)]: a total outside cannot hold whatever the other rows.
# The LP  min sum_j |sum_i d_i x_ij g_i / T_j - 1|  over g in [L, U]  (phase one of the
# simplex) tells whether the rows hold jointly: a positive optimum proves them infeasible.
lp_misfit <- function(X, dw, pop, L, U) {
  if (ncol(X) == 0) return(0)
  n <- nrow(X); k <- ncol(X)
  A <- t(X * dw) / pop                    # k x n, row j: d_i x_ij / T_j
  rhs <- 1 - L * rowSums(A)               # g = L + h, h in [0, U - L]
  con <- rbind(cbind(A, diag(k), -diag(k)),
               cbind(diag(n), matrix(0, n, 2 * k)))
  sol <- lpSolve::lp("min", c(rep(0, n), rep(1, 2 * k)), con,
                     c(rep("=", k), rep("<=", n)), c(rhs, rep(U - L, n)))
  if (sol$status != 0) stop("lpSolve status ", sol$status)
  sol$objval
}

infeasible_case <- function(label, margins_file, bounds) {
  mi <- read_margins(file.path(here, margins_file))
  Xi <- aux_matrix(d, mi)
  popi <- population(mi)
  stopifnot(all(Xi >= 0))
  di <- des
  for (j in colnames(Xi)) di$variables[[j]] <- Xi[, j]
  warnings <- character(0)
  res <- withCallingHandlers(
    tryCatch({
      calibrate(di, cal_formula(Xi), population = popi, calfun = "linear", bounds = bounds,
                epsilon = EPSILON, maxit = MAXIT)
      "converged"
    }, error = function(e) paste0("error: ", conditionMessage(e))),
    warning = function(w) {
      warnings <<- c(warnings, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  est <- colSums(Xi * d$design_weight)
  low <- bounds[1] * est; high <- bounds[2] * est
  out <- popi < low | popi > high
  rows <- lapply(which(out), function(j) list(
    row = j, margin = mi$margin[j], variable = mi$variable[j], level = mi$level[j],
    total = popi[[j]], reachable_low = low[[j]], reachable_high = high[[j]]))
  lp_all <- lp_misfit(Xi, d$design_weight, popi, bounds[1], bounds[2])
  lp_rest <- lp_misfit(Xi[, !out, drop = FALSE], d$design_weight, popi[!out], bounds[1], bounds[2])
  cat(sprintf("infeasible %-12s bounds [%g, %g]: R %s | %s\n  rows out of reach: %s | LP min sum |rel misfit| %.6g, without them %.3g\n",
              label, bounds[1], bounds[2], res, paste(warnings, collapse = "; "),
              paste(sprintf("%s %s %s", mi$margin[out], mi$variable[out], mi$level[out]), collapse = ", "),
              lp_all, lp_rest))
  list(case = label, margins = margins_file, calfun = "linear", bounds = bounds,
       epsilon = EPSILON, maxit = MAXIT, r_result = res, r_warnings = warnings,
       rows_out_of_reach = unname(rows), lp_min_sum_relative_misfit = lp_all,
       lp_min_sum_relative_misfit_without_those_rows = lp_rest)
}

infeasible <- list(
  infeasible_case("tight", "margins_tight.csv", BOUNDS$truncated),
  infeasible_case("narrow", "margins.csv", c(0.95, 1.05)),
  infeasible_case("half_double", "margins.csv", c(0.5, 2.0))
)

info <- list(
  r_version = R.version.string,
  survey_version = as.character(packageVersion("survey")),
  design = "svydesign(ids = ~1, strata = ~stratum, weights = ~design_weight, fpc = ~fpc)",
  epsilon = EPSILON, maxit = MAXIT,
  bounds = BOUNDS,
  methods = summary,
  infeasible = infeasible
)
jsonlite::write_json(info, file.path(here, "weights_reference.json"), auto_unbox = TRUE,
                     digits = NA, pretty = TRUE, null = "null")
cat("weights_reference.csv, weights_reference.json written\n")

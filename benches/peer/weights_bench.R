# R's survey::calibrate on the survey-weights benchmark's data (benches/peer/weights_bench.sh):
# raking of the services' design weights to a margins table, timed in the process.
#
# Usage: Rscript benches/peer/weights_bench.R SERVICES.csv MARGINS.csv OUT_WEIGHTS.csv [REPEATS] [--count]
#
# Reads the services (the columns of tests/reference/weights/services.csv) and the margins
# (margin,variable,level,total), builds the auxiliary matrix with
# tests/reference/weights/margins.R (one column per margins row, as dotation does), then
#   des <- svydesign(ids = ~1, weights = ~design_weight, data = d)
#   calibrate(des, ~ 0 + m01 + ..., population = totals, calfun = "raking",
#             epsilon = 1e-12, maxit = 100)
# REPEATS times (1 by default), each timed with system.time (elapsed; with REPEATS > 1,
# after two calls, untimed, a call shorter than 0.1 s is timed in batches of calls, per
# call), and writes the calibrated weights of the last (service_id,weight, %.17g) to
# OUT_WEIGHTS.csv. With REPEATS = 1 (the whole-process runs) calibrate() runs once.
# Prints one JSON object: the times of calibrate(), their median, the times of reading,
# building the matrix and the design, the largest relative misfit of the totals and, with
# --count, the Newton steps of grake (counted in an extra, untimed call whose raking
# calfun counts its derivative's evaluations: one before the first step, one per step;
# no step halving happens here, which would add evaluations). Stops if calibrate() fails.

args <- commandArgs(trailingOnly = TRUE)
count <- "--count" %in% args
args <- setdiff(args, "--count")
if (length(args) < 3) stop("usage: weights_bench.R SERVICES.csv MARGINS.csv OUT.csv [REPEATS] [--count]")
repeats <- if (length(args) >= 4) as.integer(args[4]) else 1L

file_arg <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
here <- dirname(normalizePath(file_arg))
source(file.path(here, "..", "..", "tests", "reference", "weights", "margins.R"))

suppressPackageStartupMessages(library(survey))
EPSILON <- 1e-12
MAXIT <- 100

t_read <- system.time({
  d <- read_services(args[1])
  m <- read_margins(args[2])
})[["elapsed"]]
t_matrix <- system.time({
  X <- aux_matrix(d, m)
  d <- cbind(d, X)
  totals <- population(m)
  f <- cal_formula(X)
})[["elapsed"]]
t_design <- system.time(
  des <- svydesign(ids = ~1, weights = ~design_weight, data = d)
)[["elapsed"]]

rake <- function(calfun) {
  calibrate(des, f, population = totals, calfun = calfun, epsilon = EPSILON, maxit = MAXIT)
}
# system.time counts milliseconds: with REPEATS > 1, a call shorter than 0.1 s is timed
# in batches of `inner` calls lasting about 0.1 s (sized by a second call), per call.
first <- NA
inner <- 1L
if (repeats > 1) {
  cal <- rake("raking") # the first call is slower (code loaded, compiled)
  first <- system.time(cal <- rake("raking"))[["elapsed"]]
  if (first < 0.1) inner <- as.integer(ceiling(0.1 / max(first, 0.001)))
}
times <- numeric(repeats)
for (i in seq_len(repeats)) {
  times[i] <- system.time(for (k in seq_len(inner)) cal <- rake("raking"))[["elapsed"]] / inner
}
w <- weights(cal)
misfit <- max(abs(colSums(X * w) - totals) / abs(totals))
if (!(misfit < 1e-9)) stop("the calibrated weights miss a total by ", misfit)

steps <- NA
if (count) {
  evaluations <- 0L
  counting <- cal.raking
  counting$dF <- function(u, bounds) {
    evaluations <<- evaluations + 1L
    cal.raking$dF(u, bounds)
  }
  w_counted <- weights(rake(counting))
  stopifnot(identical(unname(w_counted), unname(w)))
  steps <- evaluations - 1L
}

out <- file(args[3], "w")
writeLines("service_id,weight", out)
writeLines(sprintf("%s,%.17g", d$service_id, w), out)
close(out)

json_num <- function(x) if (is.na(x)) "null" else sprintf("%.17g", x)
cat(sprintf(paste0(
  '{"services": %d, "cells": %d, "calibrate_s": [%s], "calibrate_median_s": %s, ',
  '"calls_per_time": %d, "sizing_call_s": %s, ',
  '"read_s": %s, "matrix_s": %s, "design_s": %s, "iterations": %s, ',
  '"largest_relative_misfit": %s, "epsilon": %s, "r": "%s", "survey": "%s"}\n'),
  nrow(d), ncol(X), paste(sprintf("%.6f", times), collapse = ", "), json_num(median(times)),
  inner, json_num(first), json_num(t_read), json_num(t_matrix), json_num(t_design), json_num(steps), json_num(misfit),
  json_num(EPSILON), paste(R.version$major, R.version$minor, sep = "."),
  as.character(packageVersion("survey"))))

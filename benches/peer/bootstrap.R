# The bootstrap peer of benches/peer/calibrate.py: R's survey package on the national
# calibration bench's design (design.csv: y, w and the design's columns x1…xk), the 6,300
# services as one unstratified sample without fpc, 1,000 Rao-Wu (n − 1) bootstrap
# replicates (as.svrepdesign(type = "subbootstrap"), the rescaled bootstrap dotation's
# Preston replicates reduce to in one stratum without fpc), the weighted least-squares fit
# refitted on every replicate by svyglm. Prints one line of JSON: the seconds to build the
# replicate design and to fit, and the standard errors.
#
# Install (Debian): apt-get install -y r-cran-survey
# Run:              Rscript benches/peer/bootstrap.R DESIGN.csv

suppressMessages(library(survey))
options(survey.replicates.mse = FALSE)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
xs <- grep("^x[0-9]+$", names(d), value = TRUE)
set.seed(1)
t0 <- proc.time()[["elapsed"]]
des <- svydesign(ids = ~1, weights = ~w, data = d)
rep <- as.svrepdesign(des, type = "subbootstrap", replicates = 1000)
t1 <- proc.time()[["elapsed"]]
fit <- svyglm(as.formula(paste("y ~ 0 +", paste(xs, collapse = " + "))), design = rep)
t2 <- proc.time()[["elapsed"]]
se <- sqrt(diag(vcov(fit)))
cat(sprintf('{"replicates": %.4f, "fit": %.4f, "se": [%s]}\n', t1 - t0, t2 - t1,
            paste(sprintf("%.10g", se), collapse = ", ")))

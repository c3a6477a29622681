# Shared by weights_reference.R and calibrated_design.R: reads services.csv and a margins
# file, and builds the auxiliary variables of the calibration exactly as the product does:
# one column per margins row, in the file's row order,
#   - a categorical row (level not empty): the indicator (0/1) that the service's value of
#     the variable (a crossing `a*b` joins the columns' values with `*`, booleans written
#     true/false) equals the level;
#   - a numeric row (level empty): the service's value of the variable, where
#     `users:gir=k` is the column users_gir<k>, `users:allowance=A` is users_<a> (lower
#     case), and `users`, `user_months`, `hours_apa`, ... are the columns of the same name.
# The columns are named m01, m02, ... (the row number); the population totals carry the
# same names.

read_services <- function(path) {
  read.csv(path, colClasses = c(service_id = "character", stratum = "character",
                                departement = "character", status = "character",
                                habilitated = "character", mixed = "character"))
}

read_margins <- function(path) {
  m <- read.csv(path, colClasses = c(margin = "character", variable = "character",
                                     level = "character", total = "numeric"),
                na.strings = character(0))
  m$level[is.na(m$level)] <- ""
  m
}

numeric_column <- function(variable) {
  if (grepl("^users:gir=[1-6]$", variable)) {
    paste0("users_gir", sub("^users:gir=", "", variable))
  } else if (grepl("^users:allowance=", variable)) {
    paste0("users_", tolower(sub("^users:allowance=", "", variable)))
  } else {
    variable
  }
}

aux_matrix <- function(d, m) {
  X <- sapply(seq_len(nrow(m)), function(j) {
    v <- m$variable[j]; lv <- m$level[j]
    if (lv != "") {
      cols <- strsplit(v, "*", fixed = TRUE)[[1]]
      stopifnot(all(cols %in% names(d)))
      value <- do.call(paste, c(lapply(cols, function(c) d[[c]]), sep = "*"))
      as.numeric(value == lv)
    } else {
      col <- numeric_column(v)
      if (!col %in% names(d)) stop("unknown variable ", v)
      as.numeric(d[[col]])
    }
  })
  X <- matrix(X, nrow = nrow(d))
  colnames(X) <- sprintf("m%02d", seq_len(nrow(m)))
  X
}

population <- function(m) setNames(m$total, sprintf("m%02d", seq_len(nrow(m))))

cal_formula <- function(X) as.formula(paste("~ 0 +", paste(colnames(X), collapse = " + ")))

package jobs

// DefaultValidationFraction is the share of each label's rows held out when a job has no validation file.
const DefaultValidationFraction = 0.1

# message: spam.eml
if header :contains "subject" "für" { discard; }

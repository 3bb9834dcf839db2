# message: list.eml
if header :contains "subject" "café" { discard; }

if header :contains "Subject" "FRIDAY" { discard; }

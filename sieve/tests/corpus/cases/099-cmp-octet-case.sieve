if header :comparator "i;octet" :contains "subject" "friday" { discard; } else { keep; }

if header :comparator "i;ascii-casemap" :is "subject" "MEETING ON FRIDAY" { discard; }

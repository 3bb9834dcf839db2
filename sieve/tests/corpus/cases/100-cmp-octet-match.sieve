if header :comparator "i;octet" :is "subject" "Meeting on Friday" { discard; }

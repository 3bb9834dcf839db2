if header :comparator "I;OCTET" :is "subject" "Meeting on Friday" { discard; }

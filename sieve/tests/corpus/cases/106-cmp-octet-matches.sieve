if header :comparator "i;octet" :matches "subject" "meeting*" { discard; } else { keep; }

require "regex";
if header :regex :comparator "i;octet" "subject" "meeting" { discard; } else { keep; }

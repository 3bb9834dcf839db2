require "regex";
if header :regex "subject" "meeting" { discard; }

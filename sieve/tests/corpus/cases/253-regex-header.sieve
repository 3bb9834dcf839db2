require "regex";
if header :regex "subject" "^Meet.*day$" { discard; }

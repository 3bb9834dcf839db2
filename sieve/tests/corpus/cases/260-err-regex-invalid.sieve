# expect: compile error
require "regex";
if header :regex "subject" "(" { keep; }

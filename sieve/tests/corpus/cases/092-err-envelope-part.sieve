# expect: compile error
require "envelope";
if envelope :is "sender" "x" { keep; }

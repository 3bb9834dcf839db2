# expect: compile error
require "spamtest";
if spamtest :percent "50" { keep; }

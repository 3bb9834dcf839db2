# expect: compile error
require "comparator-i;ascii-numeric";
if header :contains :comparator "i;ascii-numeric" "x-priority" "3" { discard; } else { keep; }

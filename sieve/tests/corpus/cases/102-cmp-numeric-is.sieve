require "comparator-i;ascii-numeric";
if header :comparator "i;ascii-numeric" :is "x-priority" "003" { discard; }

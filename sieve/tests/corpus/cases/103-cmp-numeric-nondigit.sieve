require "comparator-i;ascii-numeric";
if header :comparator "i;ascii-numeric" :is "subject" "x" { discard; }

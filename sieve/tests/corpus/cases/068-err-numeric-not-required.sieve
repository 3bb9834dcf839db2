# expect: compile error
if header :comparator "i;ascii-numeric" "x-priority" "3" { keep; }

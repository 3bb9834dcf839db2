# expect: compile error
if header :comparator "i;frob" "subject" "x" { keep; }

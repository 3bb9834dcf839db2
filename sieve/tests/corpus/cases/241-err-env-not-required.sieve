# expect: compile error
if environment "location" "x" { keep; }

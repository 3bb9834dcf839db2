# expect: compile error
if header :is 42 "x" { keep; }

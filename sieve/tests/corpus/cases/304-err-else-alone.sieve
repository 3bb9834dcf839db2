# expect: compile error
if true { keep; }
keep;
else { discard; }

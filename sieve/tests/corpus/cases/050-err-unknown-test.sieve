# expect: compile error
if frobnicate { keep; }

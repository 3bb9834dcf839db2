require "duplicate";
if duplicate :header "subject" :handle "subj" { discard; } else { redirect "first@example.org"; }

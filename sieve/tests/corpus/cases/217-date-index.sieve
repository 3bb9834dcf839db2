require ["date", "index"];
if date :index 1 :is "date" "year" "2025" { discard; }

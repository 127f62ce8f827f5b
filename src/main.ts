// Placeholder entry: replaced by the CLI core.
console.log('thirdloop');

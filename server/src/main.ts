// Placeholder entry: replaced by the server's command line.
console.log('thirdloop-server');

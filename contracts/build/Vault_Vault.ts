import {
    Cell,
    Slice,
    Address,
    Builder,
    beginCell,
    ComputeError,
    TupleItem,
    TupleReader,
    Dictionary,
    contractAddress,
    address,
    ContractProvider,
    Sender,
    Contract,
    ContractABI,
    ABIType,
    ABIGetter,
    ABIReceiver,
    TupleBuilder,
    DictionaryValue
} from '@ton/core';

export type DataSize = {
    $$type: 'DataSize';
    cells: bigint;
    bits: bigint;
    refs: bigint;
}

export function storeDataSize(src: DataSize) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.cells, 257);
        b_0.storeInt(src.bits, 257);
        b_0.storeInt(src.refs, 257);
    };
}

export function loadDataSize(slice: Slice) {
    const sc_0 = slice;
    const _cells = sc_0.loadIntBig(257);
    const _bits = sc_0.loadIntBig(257);
    const _refs = sc_0.loadIntBig(257);
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function loadTupleDataSize(source: TupleReader) {
    const _cells = source.readBigNumber();
    const _bits = source.readBigNumber();
    const _refs = source.readBigNumber();
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function loadGetterTupleDataSize(source: TupleReader) {
    const _cells = source.readBigNumber();
    const _bits = source.readBigNumber();
    const _refs = source.readBigNumber();
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function storeTupleDataSize(source: DataSize) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.cells);
    builder.writeNumber(source.bits);
    builder.writeNumber(source.refs);
    return builder.build();
}

export function dictValueParserDataSize(): DictionaryValue<DataSize> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDataSize(src)).endCell());
        },
        parse: (src) => {
            return loadDataSize(src.loadRef().beginParse());
        }
    }
}

export type SignedBundle = {
    $$type: 'SignedBundle';
    signature: Buffer;
    signedData: Slice;
}

export function storeSignedBundle(src: SignedBundle) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeBuffer(src.signature);
        b_0.storeBuilder(src.signedData.asBuilder());
    };
}

export function loadSignedBundle(slice: Slice) {
    const sc_0 = slice;
    const _signature = sc_0.loadBuffer(64);
    const _signedData = sc_0;
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function loadTupleSignedBundle(source: TupleReader) {
    const _signature = source.readBuffer();
    const _signedData = source.readCell().asSlice();
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function loadGetterTupleSignedBundle(source: TupleReader) {
    const _signature = source.readBuffer();
    const _signedData = source.readCell().asSlice();
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function storeTupleSignedBundle(source: SignedBundle) {
    const builder = new TupleBuilder();
    builder.writeBuffer(source.signature);
    builder.writeSlice(source.signedData.asCell());
    return builder.build();
}

export function dictValueParserSignedBundle(): DictionaryValue<SignedBundle> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSignedBundle(src)).endCell());
        },
        parse: (src) => {
            return loadSignedBundle(src.loadRef().beginParse());
        }
    }
}

export type StateInit = {
    $$type: 'StateInit';
    code: Cell;
    data: Cell;
}

export function storeStateInit(src: StateInit) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeRef(src.code);
        b_0.storeRef(src.data);
    };
}

export function loadStateInit(slice: Slice) {
    const sc_0 = slice;
    const _code = sc_0.loadRef();
    const _data = sc_0.loadRef();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function loadTupleStateInit(source: TupleReader) {
    const _code = source.readCell();
    const _data = source.readCell();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function loadGetterTupleStateInit(source: TupleReader) {
    const _code = source.readCell();
    const _data = source.readCell();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function storeTupleStateInit(source: StateInit) {
    const builder = new TupleBuilder();
    builder.writeCell(source.code);
    builder.writeCell(source.data);
    return builder.build();
}

export function dictValueParserStateInit(): DictionaryValue<StateInit> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeStateInit(src)).endCell());
        },
        parse: (src) => {
            return loadStateInit(src.loadRef().beginParse());
        }
    }
}

export type Context = {
    $$type: 'Context';
    bounceable: boolean;
    sender: Address;
    value: bigint;
    raw: Slice;
}

export function storeContext(src: Context) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeBit(src.bounceable);
        b_0.storeAddress(src.sender);
        b_0.storeInt(src.value, 257);
        b_0.storeRef(src.raw.asCell());
    };
}

export function loadContext(slice: Slice) {
    const sc_0 = slice;
    const _bounceable = sc_0.loadBit();
    const _sender = sc_0.loadAddress();
    const _value = sc_0.loadIntBig(257);
    const _raw = sc_0.loadRef().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function loadTupleContext(source: TupleReader) {
    const _bounceable = source.readBoolean();
    const _sender = source.readAddress();
    const _value = source.readBigNumber();
    const _raw = source.readCell().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function loadGetterTupleContext(source: TupleReader) {
    const _bounceable = source.readBoolean();
    const _sender = source.readAddress();
    const _value = source.readBigNumber();
    const _raw = source.readCell().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function storeTupleContext(source: Context) {
    const builder = new TupleBuilder();
    builder.writeBoolean(source.bounceable);
    builder.writeAddress(source.sender);
    builder.writeNumber(source.value);
    builder.writeSlice(source.raw.asCell());
    return builder.build();
}

export function dictValueParserContext(): DictionaryValue<Context> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeContext(src)).endCell());
        },
        parse: (src) => {
            return loadContext(src.loadRef().beginParse());
        }
    }
}

export type SendParameters = {
    $$type: 'SendParameters';
    mode: bigint;
    body: Cell | null;
    code: Cell | null;
    data: Cell | null;
    value: bigint;
    to: Address;
    bounce: boolean;
}

export function storeSendParameters(src: SendParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        if (src.code !== null && src.code !== undefined) { b_0.storeBit(true).storeRef(src.code); } else { b_0.storeBit(false); }
        if (src.data !== null && src.data !== undefined) { b_0.storeBit(true).storeRef(src.data); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeAddress(src.to);
        b_0.storeBit(src.bounce);
    };
}

export function loadSendParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _code = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _data = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _to = sc_0.loadAddress();
    const _bounce = sc_0.loadBit();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function loadTupleSendParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _code = source.readCellOpt();
    const _data = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function loadGetterTupleSendParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _code = source.readCellOpt();
    const _data = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function storeTupleSendParameters(source: SendParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeCell(source.code);
    builder.writeCell(source.data);
    builder.writeNumber(source.value);
    builder.writeAddress(source.to);
    builder.writeBoolean(source.bounce);
    return builder.build();
}

export function dictValueParserSendParameters(): DictionaryValue<SendParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSendParameters(src)).endCell());
        },
        parse: (src) => {
            return loadSendParameters(src.loadRef().beginParse());
        }
    }
}

export type MessageParameters = {
    $$type: 'MessageParameters';
    mode: bigint;
    body: Cell | null;
    value: bigint;
    to: Address;
    bounce: boolean;
}

export function storeMessageParameters(src: MessageParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeAddress(src.to);
        b_0.storeBit(src.bounce);
    };
}

export function loadMessageParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _to = sc_0.loadAddress();
    const _bounce = sc_0.loadBit();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function loadTupleMessageParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function loadGetterTupleMessageParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function storeTupleMessageParameters(source: MessageParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeNumber(source.value);
    builder.writeAddress(source.to);
    builder.writeBoolean(source.bounce);
    return builder.build();
}

export function dictValueParserMessageParameters(): DictionaryValue<MessageParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeMessageParameters(src)).endCell());
        },
        parse: (src) => {
            return loadMessageParameters(src.loadRef().beginParse());
        }
    }
}

export type DeployParameters = {
    $$type: 'DeployParameters';
    mode: bigint;
    body: Cell | null;
    value: bigint;
    bounce: boolean;
    init: StateInit;
}

export function storeDeployParameters(src: DeployParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeBit(src.bounce);
        b_0.store(storeStateInit(src.init));
    };
}

export function loadDeployParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _bounce = sc_0.loadBit();
    const _init = loadStateInit(sc_0);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function loadTupleDeployParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _bounce = source.readBoolean();
    const _init = loadTupleStateInit(source);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function loadGetterTupleDeployParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _bounce = source.readBoolean();
    const _init = loadGetterTupleStateInit(source);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function storeTupleDeployParameters(source: DeployParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeNumber(source.value);
    builder.writeBoolean(source.bounce);
    builder.writeTuple(storeTupleStateInit(source.init));
    return builder.build();
}

export function dictValueParserDeployParameters(): DictionaryValue<DeployParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDeployParameters(src)).endCell());
        },
        parse: (src) => {
            return loadDeployParameters(src.loadRef().beginParse());
        }
    }
}

export type StdAddress = {
    $$type: 'StdAddress';
    workchain: bigint;
    address: bigint;
}

export function storeStdAddress(src: StdAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.workchain, 8);
        b_0.storeUint(src.address, 256);
    };
}

export function loadStdAddress(slice: Slice) {
    const sc_0 = slice;
    const _workchain = sc_0.loadIntBig(8);
    const _address = sc_0.loadUintBig(256);
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function loadTupleStdAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readBigNumber();
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function loadGetterTupleStdAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readBigNumber();
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function storeTupleStdAddress(source: StdAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.workchain);
    builder.writeNumber(source.address);
    return builder.build();
}

export function dictValueParserStdAddress(): DictionaryValue<StdAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeStdAddress(src)).endCell());
        },
        parse: (src) => {
            return loadStdAddress(src.loadRef().beginParse());
        }
    }
}

export type VarAddress = {
    $$type: 'VarAddress';
    workchain: bigint;
    address: Slice;
}

export function storeVarAddress(src: VarAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.workchain, 32);
        b_0.storeRef(src.address.asCell());
    };
}

export function loadVarAddress(slice: Slice) {
    const sc_0 = slice;
    const _workchain = sc_0.loadIntBig(32);
    const _address = sc_0.loadRef().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function loadTupleVarAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readCell().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function loadGetterTupleVarAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readCell().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function storeTupleVarAddress(source: VarAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.workchain);
    builder.writeSlice(source.address.asCell());
    return builder.build();
}

export function dictValueParserVarAddress(): DictionaryValue<VarAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeVarAddress(src)).endCell());
        },
        parse: (src) => {
            return loadVarAddress(src.loadRef().beginParse());
        }
    }
}

export type BasechainAddress = {
    $$type: 'BasechainAddress';
    hash: bigint | null;
}

export function storeBasechainAddress(src: BasechainAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        if (src.hash !== null && src.hash !== undefined) { b_0.storeBit(true).storeInt(src.hash, 257); } else { b_0.storeBit(false); }
    };
}

export function loadBasechainAddress(slice: Slice) {
    const sc_0 = slice;
    const _hash = sc_0.loadBit() ? sc_0.loadIntBig(257) : null;
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function loadTupleBasechainAddress(source: TupleReader) {
    const _hash = source.readBigNumberOpt();
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function loadGetterTupleBasechainAddress(source: TupleReader) {
    const _hash = source.readBigNumberOpt();
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function storeTupleBasechainAddress(source: BasechainAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.hash);
    return builder.build();
}

export function dictValueParserBasechainAddress(): DictionaryValue<BasechainAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeBasechainAddress(src)).endCell());
        },
        parse: (src) => {
            return loadBasechainAddress(src.loadRef().beginParse());
        }
    }
}

export type Deposit = {
    $$type: 'Deposit';
    account: bigint;
}

export function storeDeposit(src: Deposit) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196801, 32);
        b_0.storeUint(src.account, 256);
    };
}

export function loadDeposit(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196801) { throw Error('Invalid prefix'); }
    const _account = sc_0.loadUintBig(256);
    return { $$type: 'Deposit' as const, account: _account };
}

export function loadTupleDeposit(source: TupleReader) {
    const _account = source.readBigNumber();
    return { $$type: 'Deposit' as const, account: _account };
}

export function loadGetterTupleDeposit(source: TupleReader) {
    const _account = source.readBigNumber();
    return { $$type: 'Deposit' as const, account: _account };
}

export function storeTupleDeposit(source: Deposit) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.account);
    return builder.build();
}

export function dictValueParserDeposit(): DictionaryValue<Deposit> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDeposit(src)).endCell());
        },
        parse: (src) => {
            return loadDeposit(src.loadRef().beginParse());
        }
    }
}

export type Withdraw = {
    $$type: 'Withdraw';
    account: bigint;
    amount: bigint;
    to: Address;
    seqno: bigint;
    expiry: bigint;
    signature: Buffer;
}

export function storeWithdraw(src: Withdraw) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196802, 32);
        b_0.storeUint(src.account, 256);
        b_0.storeCoins(src.amount);
        b_0.storeAddress(src.to);
        b_0.storeUint(src.seqno, 32);
        b_0.storeUint(src.expiry, 32);
        const b_1 = new Builder();
        b_1.storeBuffer(src.signature);
        b_0.storeRef(b_1.endCell());
    };
}

export function loadWithdraw(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196802) { throw Error('Invalid prefix'); }
    const _account = sc_0.loadUintBig(256);
    const _amount = sc_0.loadCoins();
    const _to = sc_0.loadAddress();
    const _seqno = sc_0.loadUintBig(32);
    const _expiry = sc_0.loadUintBig(32);
    const sc_1 = sc_0.loadRef().beginParse();
    const _signature = sc_1.loadBuffer(64);
    return { $$type: 'Withdraw' as const, account: _account, amount: _amount, to: _to, seqno: _seqno, expiry: _expiry, signature: _signature };
}

export function loadTupleWithdraw(source: TupleReader) {
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    const _to = source.readAddress();
    const _seqno = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _signature = source.readBuffer();
    return { $$type: 'Withdraw' as const, account: _account, amount: _amount, to: _to, seqno: _seqno, expiry: _expiry, signature: _signature };
}

export function loadGetterTupleWithdraw(source: TupleReader) {
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    const _to = source.readAddress();
    const _seqno = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _signature = source.readBuffer();
    return { $$type: 'Withdraw' as const, account: _account, amount: _amount, to: _to, seqno: _seqno, expiry: _expiry, signature: _signature };
}

export function storeTupleWithdraw(source: Withdraw) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.account);
    builder.writeNumber(source.amount);
    builder.writeAddress(source.to);
    builder.writeNumber(source.seqno);
    builder.writeNumber(source.expiry);
    builder.writeBuffer(source.signature);
    return builder.build();
}

export function dictValueParserWithdraw(): DictionaryValue<Withdraw> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeWithdraw(src)).endCell());
        },
        parse: (src) => {
            return loadWithdraw(src.loadRef().beginParse());
        }
    }
}

export type Redeem = {
    $$type: 'Redeem';
    worker: Address;
    cumulative: bigint;
    expiry: bigint;
    signature: Buffer;
}

export function storeRedeem(src: Redeem) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196803, 32);
        b_0.storeAddress(src.worker);
        b_0.storeCoins(src.cumulative);
        b_0.storeUint(src.expiry, 32);
        b_0.storeBuffer(src.signature);
    };
}

export function loadRedeem(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196803) { throw Error('Invalid prefix'); }
    const _worker = sc_0.loadAddress();
    const _cumulative = sc_0.loadCoins();
    const _expiry = sc_0.loadUintBig(32);
    const _signature = sc_0.loadBuffer(64);
    return { $$type: 'Redeem' as const, worker: _worker, cumulative: _cumulative, expiry: _expiry, signature: _signature };
}

export function loadTupleRedeem(source: TupleReader) {
    const _worker = source.readAddress();
    const _cumulative = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _signature = source.readBuffer();
    return { $$type: 'Redeem' as const, worker: _worker, cumulative: _cumulative, expiry: _expiry, signature: _signature };
}

export function loadGetterTupleRedeem(source: TupleReader) {
    const _worker = source.readAddress();
    const _cumulative = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _signature = source.readBuffer();
    return { $$type: 'Redeem' as const, worker: _worker, cumulative: _cumulative, expiry: _expiry, signature: _signature };
}

export function storeTupleRedeem(source: Redeem) {
    const builder = new TupleBuilder();
    builder.writeAddress(source.worker);
    builder.writeNumber(source.cumulative);
    builder.writeNumber(source.expiry);
    builder.writeBuffer(source.signature);
    return builder.build();
}

export function dictValueParserRedeem(): DictionaryValue<Redeem> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeRedeem(src)).endCell());
        },
        parse: (src) => {
            return loadRedeem(src.loadRef().beginParse());
        }
    }
}

export type SetCoordinatorKey = {
    $$type: 'SetCoordinatorKey';
    key: bigint;
}

export function storeSetCoordinatorKey(src: SetCoordinatorKey) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196804, 32);
        b_0.storeUint(src.key, 256);
    };
}

export function loadSetCoordinatorKey(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196804) { throw Error('Invalid prefix'); }
    const _key = sc_0.loadUintBig(256);
    return { $$type: 'SetCoordinatorKey' as const, key: _key };
}

export function loadTupleSetCoordinatorKey(source: TupleReader) {
    const _key = source.readBigNumber();
    return { $$type: 'SetCoordinatorKey' as const, key: _key };
}

export function loadGetterTupleSetCoordinatorKey(source: TupleReader) {
    const _key = source.readBigNumber();
    return { $$type: 'SetCoordinatorKey' as const, key: _key };
}

export function storeTupleSetCoordinatorKey(source: SetCoordinatorKey) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.key);
    return builder.build();
}

export function dictValueParserSetCoordinatorKey(): DictionaryValue<SetCoordinatorKey> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSetCoordinatorKey(src)).endCell());
        },
        parse: (src) => {
            return loadSetCoordinatorKey(src.loadRef().beginParse());
        }
    }
}

export type DepositCredited = {
    $$type: 'DepositCredited';
    account: bigint;
    amount: bigint;
}

export function storeDepositCredited(src: DepositCredited) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196929, 32);
        b_0.storeUint(src.account, 256);
        b_0.storeCoins(src.amount);
    };
}

export function loadDepositCredited(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196929) { throw Error('Invalid prefix'); }
    const _account = sc_0.loadUintBig(256);
    const _amount = sc_0.loadCoins();
    return { $$type: 'DepositCredited' as const, account: _account, amount: _amount };
}

export function loadTupleDepositCredited(source: TupleReader) {
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    return { $$type: 'DepositCredited' as const, account: _account, amount: _amount };
}

export function loadGetterTupleDepositCredited(source: TupleReader) {
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    return { $$type: 'DepositCredited' as const, account: _account, amount: _amount };
}

export function storeTupleDepositCredited(source: DepositCredited) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.account);
    builder.writeNumber(source.amount);
    return builder.build();
}

export function dictValueParserDepositCredited(): DictionaryValue<DepositCredited> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDepositCredited(src)).endCell());
        },
        parse: (src) => {
            return loadDepositCredited(src.loadRef().beginParse());
        }
    }
}

export type AccountState = {
    $$type: 'AccountState';
    deposited: bigint;
    withdrawn: bigint;
    seqno: bigint;
}

export function storeAccountState(src: AccountState) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeCoins(src.deposited);
        b_0.storeCoins(src.withdrawn);
        b_0.storeUint(src.seqno, 32);
    };
}

export function loadAccountState(slice: Slice) {
    const sc_0 = slice;
    const _deposited = sc_0.loadCoins();
    const _withdrawn = sc_0.loadCoins();
    const _seqno = sc_0.loadUintBig(32);
    return { $$type: 'AccountState' as const, deposited: _deposited, withdrawn: _withdrawn, seqno: _seqno };
}

export function loadTupleAccountState(source: TupleReader) {
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _seqno = source.readBigNumber();
    return { $$type: 'AccountState' as const, deposited: _deposited, withdrawn: _withdrawn, seqno: _seqno };
}

export function loadGetterTupleAccountState(source: TupleReader) {
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _seqno = source.readBigNumber();
    return { $$type: 'AccountState' as const, deposited: _deposited, withdrawn: _withdrawn, seqno: _seqno };
}

export function storeTupleAccountState(source: AccountState) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.deposited);
    builder.writeNumber(source.withdrawn);
    builder.writeNumber(source.seqno);
    return builder.build();
}

export function dictValueParserAccountState(): DictionaryValue<AccountState> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeAccountState(src)).endCell());
        },
        parse: (src) => {
            return loadAccountState(src.loadRef().beginParse());
        }
    }
}

export type Totals = {
    $$type: 'Totals';
    deposited: bigint;
    withdrawn: bigint;
    paid: bigint;
    toppedUp: bigint;
}

export function storeTotals(src: Totals) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeCoins(src.deposited);
        b_0.storeCoins(src.withdrawn);
        b_0.storeCoins(src.paid);
        b_0.storeCoins(src.toppedUp);
    };
}

export function loadTotals(slice: Slice) {
    const sc_0 = slice;
    const _deposited = sc_0.loadCoins();
    const _withdrawn = sc_0.loadCoins();
    const _paid = sc_0.loadCoins();
    const _toppedUp = sc_0.loadCoins();
    return { $$type: 'Totals' as const, deposited: _deposited, withdrawn: _withdrawn, paid: _paid, toppedUp: _toppedUp };
}

export function loadTupleTotals(source: TupleReader) {
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _paid = source.readBigNumber();
    const _toppedUp = source.readBigNumber();
    return { $$type: 'Totals' as const, deposited: _deposited, withdrawn: _withdrawn, paid: _paid, toppedUp: _toppedUp };
}

export function loadGetterTupleTotals(source: TupleReader) {
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _paid = source.readBigNumber();
    const _toppedUp = source.readBigNumber();
    return { $$type: 'Totals' as const, deposited: _deposited, withdrawn: _withdrawn, paid: _paid, toppedUp: _toppedUp };
}

export function storeTupleTotals(source: Totals) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.deposited);
    builder.writeNumber(source.withdrawn);
    builder.writeNumber(source.paid);
    builder.writeNumber(source.toppedUp);
    return builder.build();
}

export function dictValueParserTotals(): DictionaryValue<Totals> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeTotals(src)).endCell());
        },
        parse: (src) => {
            return loadTotals(src.loadRef().beginParse());
        }
    }
}

export type Vault$Data = {
    $$type: 'Vault$Data';
    owner: Address;
    coordinatorKey: bigint;
    nonce: bigint;
    totalDeposited: bigint;
    totalWithdrawn: bigint;
    totalPaid: bigint;
    totalToppedUp: bigint;
    accounts: Dictionary<bigint, AccountState>;
    paid: Dictionary<Address, bigint>;
}

export function storeVault$Data(src: Vault$Data) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeAddress(src.owner);
        b_0.storeUint(src.coordinatorKey, 256);
        b_0.storeUint(src.nonce, 32);
        b_0.storeCoins(src.totalDeposited);
        b_0.storeCoins(src.totalWithdrawn);
        b_0.storeCoins(src.totalPaid);
        const b_1 = new Builder();
        b_1.storeCoins(src.totalToppedUp);
        b_1.storeDict(src.accounts, Dictionary.Keys.BigUint(256), dictValueParserAccountState());
        b_1.storeDict(src.paid, Dictionary.Keys.Address(), Dictionary.Values.BigVarUint(4));
        b_0.storeRef(b_1.endCell());
    };
}

export function loadVault$Data(slice: Slice) {
    const sc_0 = slice;
    const _owner = sc_0.loadAddress();
    const _coordinatorKey = sc_0.loadUintBig(256);
    const _nonce = sc_0.loadUintBig(32);
    const _totalDeposited = sc_0.loadCoins();
    const _totalWithdrawn = sc_0.loadCoins();
    const _totalPaid = sc_0.loadCoins();
    const sc_1 = sc_0.loadRef().beginParse();
    const _totalToppedUp = sc_1.loadCoins();
    const _accounts = Dictionary.load(Dictionary.Keys.BigUint(256), dictValueParserAccountState(), sc_1);
    const _paid = Dictionary.load(Dictionary.Keys.Address(), Dictionary.Values.BigVarUint(4), sc_1);
    return { $$type: 'Vault$Data' as const, owner: _owner, coordinatorKey: _coordinatorKey, nonce: _nonce, totalDeposited: _totalDeposited, totalWithdrawn: _totalWithdrawn, totalPaid: _totalPaid, totalToppedUp: _totalToppedUp, accounts: _accounts, paid: _paid };
}

export function loadTupleVault$Data(source: TupleReader) {
    const _owner = source.readAddress();
    const _coordinatorKey = source.readBigNumber();
    const _nonce = source.readBigNumber();
    const _totalDeposited = source.readBigNumber();
    const _totalWithdrawn = source.readBigNumber();
    const _totalPaid = source.readBigNumber();
    const _totalToppedUp = source.readBigNumber();
    const _accounts = Dictionary.loadDirect(Dictionary.Keys.BigUint(256), dictValueParserAccountState(), source.readCellOpt());
    const _paid = Dictionary.loadDirect(Dictionary.Keys.Address(), Dictionary.Values.BigVarUint(4), source.readCellOpt());
    return { $$type: 'Vault$Data' as const, owner: _owner, coordinatorKey: _coordinatorKey, nonce: _nonce, totalDeposited: _totalDeposited, totalWithdrawn: _totalWithdrawn, totalPaid: _totalPaid, totalToppedUp: _totalToppedUp, accounts: _accounts, paid: _paid };
}

export function loadGetterTupleVault$Data(source: TupleReader) {
    const _owner = source.readAddress();
    const _coordinatorKey = source.readBigNumber();
    const _nonce = source.readBigNumber();
    const _totalDeposited = source.readBigNumber();
    const _totalWithdrawn = source.readBigNumber();
    const _totalPaid = source.readBigNumber();
    const _totalToppedUp = source.readBigNumber();
    const _accounts = Dictionary.loadDirect(Dictionary.Keys.BigUint(256), dictValueParserAccountState(), source.readCellOpt());
    const _paid = Dictionary.loadDirect(Dictionary.Keys.Address(), Dictionary.Values.BigVarUint(4), source.readCellOpt());
    return { $$type: 'Vault$Data' as const, owner: _owner, coordinatorKey: _coordinatorKey, nonce: _nonce, totalDeposited: _totalDeposited, totalWithdrawn: _totalWithdrawn, totalPaid: _totalPaid, totalToppedUp: _totalToppedUp, accounts: _accounts, paid: _paid };
}

export function storeTupleVault$Data(source: Vault$Data) {
    const builder = new TupleBuilder();
    builder.writeAddress(source.owner);
    builder.writeNumber(source.coordinatorKey);
    builder.writeNumber(source.nonce);
    builder.writeNumber(source.totalDeposited);
    builder.writeNumber(source.totalWithdrawn);
    builder.writeNumber(source.totalPaid);
    builder.writeNumber(source.totalToppedUp);
    builder.writeCell(source.accounts.size > 0 ? beginCell().storeDictDirect(source.accounts, Dictionary.Keys.BigUint(256), dictValueParserAccountState()).endCell() : null);
    builder.writeCell(source.paid.size > 0 ? beginCell().storeDictDirect(source.paid, Dictionary.Keys.Address(), Dictionary.Values.BigVarUint(4)).endCell() : null);
    return builder.build();
}

export function dictValueParserVault$Data(): DictionaryValue<Vault$Data> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeVault$Data(src)).endCell());
        },
        parse: (src) => {
            return loadVault$Data(src.loadRef().beginParse());
        }
    }
}

 type Vault_init_args = {
    $$type: 'Vault_init_args';
    owner: Address;
    coordinatorKey: bigint;
    nonce: bigint;
}

function initVault_init_args(src: Vault_init_args) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeAddress(src.owner);
        b_0.storeInt(src.coordinatorKey, 257);
        b_0.storeInt(src.nonce, 257);
    };
}

async function Vault_init(owner: Address, coordinatorKey: bigint, nonce: bigint) {
    const __code = Cell.fromHex('b5ee9c7241022801000a4c000228ff008e88f4a413f4bcf2c80bed5320e303ed43d90112020271021002012003050199b9b74ed44d0d200018e24fa40d3ffd31ffa00fa00fa00d401d0fa00f404f404301039103810371036103510346c198e17fa40810101d700810101d700552003d158705470006d6de2db3c6c9480400085475432502012006080199b4a3bda89a1a400031c49f481a7ffa63ff401f401f401a803a1f401e809e8086020722070206e206c206a2068d8331c2ff481020203ae01020203ae00aa4007a2b0e0a8e000dadbc5b678d92300700022802016a090e0201580a0c019ba157b513434800063893e9034fff4c7fe803e803e803500743e803d013d010c040e440e040dc40d840d440d1b066385fe9020404075c020404075c0154800f4561c151c001b5b78954236cf1b2460b00608307230259f40f6fa192306ddf206e92306d9dd0fa00fa00d31f55206c136f03e2206e923070e0206ef2d0806f236c21019ba2fbb513434800063893e9034fff4c7fe803e803e803500743e803d013d010c040e440e040dc40d840d440d1b066385fe9020404075c020404075c0154800f4561c151c001b5b78954236cf1b2460d003e81010b220259f40a6fa193fa003092306de2206eb395206ef2d080923070e2019cab1bed44d0d200018e24fa40d3ffd31ffa00fa00fa00d401d0fa00f404f404301039103810371036103510346c198e17fa40810101d700810101d700552003d158705470006d6de25508db3c6c910f00768307230259f40f6fa192306ddf206e92306d9dd0fa00fa00d31f55206c136f03e2206e923070e020206ef2d0806f235b01206ef2d0806f233031a10199bca1576a268690000c7127d2069ffe98ffd007d007d006a00e87d007a027a0218081c881c081b881b081a881a360cc70bfd20408080eb80408080eb802a9001e8ac382a380036b6f16d9e3648c1100022703f830eda2edfb01d072d721d200d200fa4021103450666f04f86102f862ed44d0d200018e24fa40d3ffd31ffa00fa00fa00d401d0fa00f404f404301039103810371036103510346c198e17fa40810101d700810101d700552003d158705470006d6de20a925f0ae07029d74920c21fe30021c00021c121b0e30201c000131c1d04e23109d31f2182106b1f0c01ba8ec6313908d3ff30f8416f24135f03108a107910681057104610351024db3cc87f01ca0055805089ce16cbff14cb1f58fa0201fa0201fa02c858fa0212f40012f400cdc9ed54db31e02182106b1f0c02bae3022182106b1f0c03bae3022182106b1f0c04ba2514171b01fe313908d3fffa00fa40d31fd31fd430d08308d71830f82322bbf2e3ea24c200f2e3f2c88210636f773101cb1ff828cf165260cbff24cf1625fa025230cb1f12cb1fc9f900511bf910f2e3e92b83072559f40f6fa192306ddf206e92306d9dd0fa00fa00d31f55206c136f03e2206eb3f2e3ec206ef2d0806f235133baf2e3ef1503d65ca125bef2e3ec108c107b106a1059104c103b4ade2bdb3c2cdb3c51eca00aa41d830750bbc855205afa0258fa02cb1fc9103c4980206e953059f45b30944133f417e25198a05078804070136d5520c8cf8580ca00cf8440ce01fa02806acf40f400c901fb004816044373191a160052c87f01ca0055805089ce16cbff14cb1f58fa0201fa0201fa02c858fa0212f40012f400cdc9ed54db3101fc313908fa40fa00d31f8308d71830f82322bbf2e3eac88210636f763101cb1ff828cf1624cf1623fa0212cb1fc9f9005119f910f2e3e92a81010b2359f40a6fa193fa003092306de26eb38e172a81010b2359f40a6fa193fa003092306de2206ef2d0809170e25210a120c200f2e3eb10891079106910591049103949ab291802e6db3c2bdb3c81010b5852ac206e953059f4593098c801fa024133f441e2512aa0508a804070136d5520c8cf8580ca00cf8440ce01fa02806acf40f400c901fb0010581047103645401023c87f01ca0055805089ce16cbff14cb1f58fa0201fa0201fa02c858fa0212f40012f400cdc9ed54db31191a0022f8285210c705f2d3f3fa4430c000f2e3f300365354a021a027bbf2e3f1f8276f10f8416f24135f03a101bef2e3f100928e4531373805d3ff30f84227c705f2e3edf8416f24135f0316a010685515c87f01ca0055805089ce16cbff14cb1f58fa0201fa0201fa02c858fa0212f40012f400cdc9ed54db31e00a015e5b3810685515db3cc87f01ca0055805089ce16cbff14cb1f58fa0201fa0201fa02c858fa0212f40012f400cdc9ed5427011e8e86c21fe3025f0a925f0be2f2c0821e03fc08db3c206eb38ec5206ef2d080f8416f24135f03108a107910681057104610351024db3cc87f01ca0055805089ce16cbff14cb1f58fa0201fa0201fa02c858fa0212f40012f400cdc9ed54db31e03010685515db3cc87f01ca0055805089ce16cbff14cb1f58fa0201fa0201fa02c858fa0212f40012f400cdc9ed54db311f2527028820d749810240bd917f9520d74ac300e292306de0d33f0182306465706f7369743abd92306de0d3ff01db3c01d3ff30db3c21c100917f9320c100e2925b6de001aa7f01b1202001ec2082f00f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0fb021ab0582e901010101010101010101010101010101010101010101010101010101010101b0a709a020ab03b182e8ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ffb020ab07b12101e082e0ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffffb020ab0fb182d0ffffffff00000000ffffffff00000000ffffffff00000000ffffffffb020ab1fb182b0ffffffffffffffff0000000000000000ffffffffffffffffb020ab3fb1847fb05300aa3f12b12201ce82b0ffffffffffffffff0000000000000000ffffffffffffffffb020aa1fb182d0ffffffff00000000ffffffff00000000ffffffff00000000ffffffffb020aa0fb182e0ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffffb020aa07b12301de82e8ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ffb020aa03b182f00f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0fb02082f07676767676767676767676767676767676767676767676767676767676767676a0ab062400a082e901010101010101010101010101010101010101010101010101010101010101b00182f03030303030303030303030303030303030303030303030303030303030303030a001a727a058bd92307fe001e6208208989680bef2e3f02383072359f40f6fa192306ddf206e92306d9dd0fa00fa00d31f55206c136f03e26eb38e282383072359f40f6fa192306ddf206e92306d9dd0fa00fa00d31f55206c136f03e2206ef2d0806f2393705300e25123a083075023c855205afa0258fa02cb1fc92310360126007a206e953059f45b30944133f417e25173a003c85982106b1f0c815003cb1fcbff01fa02c9c88258c000000000000000000000000101cb67ccc970fb00150068f8416f2430531bc705956c2113a002e03001f2d3ee70804070136d5520c8cf8580ca00cf8440ce01fa02806acf40f400c901fb00840a5a3f');
    const builder = beginCell();
    builder.storeUint(0, 1);
    initVault_init_args({ $$type: 'Vault_init_args', owner, coordinatorKey, nonce })(builder);
    const __data = builder.endCell();
    return { code: __code, data: __data };
}

export const Vault_errors = {
    2: { message: "Stack underflow" },
    3: { message: "Stack overflow" },
    4: { message: "Integer overflow" },
    5: { message: "Integer out of expected range" },
    6: { message: "Invalid opcode" },
    7: { message: "Type check error" },
    8: { message: "Cell overflow" },
    9: { message: "Cell underflow" },
    10: { message: "Dictionary error" },
    11: { message: "'Unknown' error" },
    12: { message: "Fatal error" },
    13: { message: "Out of gas error" },
    14: { message: "Virtualization error" },
    32: { message: "Action list is invalid" },
    33: { message: "Action list is too long" },
    34: { message: "Action is invalid or not supported" },
    35: { message: "Invalid source address in outbound message" },
    36: { message: "Invalid destination address in outbound message" },
    37: { message: "Not enough Toncoin" },
    38: { message: "Not enough extra currencies" },
    39: { message: "Outbound message does not fit into a cell after rewriting" },
    40: { message: "Cannot process a message" },
    41: { message: "Library reference is null" },
    42: { message: "Library change action error" },
    43: { message: "Exceeded maximum number of cells in the library or the maximum depth of the Merkle tree" },
    50: { message: "Account state size exceeded limits" },
    128: { message: "Null reference exception" },
    129: { message: "Invalid serialization prefix" },
    130: { message: "Invalid incoming message" },
    131: { message: "Constraints error" },
    132: { message: "Access denied" },
    133: { message: "Contract stopped" },
    134: { message: "Invalid argument" },
    135: { message: "Code of a contract was not found" },
    136: { message: "Invalid standard address" },
    138: { message: "Not a basechain address" },
} as const

export const Vault_errors_backward = {
    "Stack underflow": 2,
    "Stack overflow": 3,
    "Integer overflow": 4,
    "Integer out of expected range": 5,
    "Invalid opcode": 6,
    "Type check error": 7,
    "Cell overflow": 8,
    "Cell underflow": 9,
    "Dictionary error": 10,
    "'Unknown' error": 11,
    "Fatal error": 12,
    "Out of gas error": 13,
    "Virtualization error": 14,
    "Action list is invalid": 32,
    "Action list is too long": 33,
    "Action is invalid or not supported": 34,
    "Invalid source address in outbound message": 35,
    "Invalid destination address in outbound message": 36,
    "Not enough Toncoin": 37,
    "Not enough extra currencies": 38,
    "Outbound message does not fit into a cell after rewriting": 39,
    "Cannot process a message": 40,
    "Library reference is null": 41,
    "Library change action error": 42,
    "Exceeded maximum number of cells in the library or the maximum depth of the Merkle tree": 43,
    "Account state size exceeded limits": 50,
    "Null reference exception": 128,
    "Invalid serialization prefix": 129,
    "Invalid incoming message": 130,
    "Constraints error": 131,
    "Access denied": 132,
    "Contract stopped": 133,
    "Invalid argument": 134,
    "Code of a contract was not found": 135,
    "Invalid standard address": 136,
    "Not a basechain address": 138,
} as const

const Vault_types: ABIType[] = [
    {"name":"DataSize","header":null,"fields":[{"name":"cells","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"bits","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"refs","type":{"kind":"simple","type":"int","optional":false,"format":257}}]},
    {"name":"SignedBundle","header":null,"fields":[{"name":"signature","type":{"kind":"simple","type":"fixed-bytes","optional":false,"format":64}},{"name":"signedData","type":{"kind":"simple","type":"slice","optional":false,"format":"remainder"}}]},
    {"name":"StateInit","header":null,"fields":[{"name":"code","type":{"kind":"simple","type":"cell","optional":false}},{"name":"data","type":{"kind":"simple","type":"cell","optional":false}}]},
    {"name":"Context","header":null,"fields":[{"name":"bounceable","type":{"kind":"simple","type":"bool","optional":false}},{"name":"sender","type":{"kind":"simple","type":"address","optional":false}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"raw","type":{"kind":"simple","type":"slice","optional":false}}]},
    {"name":"SendParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"code","type":{"kind":"simple","type":"cell","optional":true}},{"name":"data","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}}]},
    {"name":"MessageParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}}]},
    {"name":"DeployParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}},{"name":"init","type":{"kind":"simple","type":"StateInit","optional":false}}]},
    {"name":"StdAddress","header":null,"fields":[{"name":"workchain","type":{"kind":"simple","type":"int","optional":false,"format":8}},{"name":"address","type":{"kind":"simple","type":"uint","optional":false,"format":256}}]},
    {"name":"VarAddress","header":null,"fields":[{"name":"workchain","type":{"kind":"simple","type":"int","optional":false,"format":32}},{"name":"address","type":{"kind":"simple","type":"slice","optional":false}}]},
    {"name":"BasechainAddress","header":null,"fields":[{"name":"hash","type":{"kind":"simple","type":"int","optional":true,"format":257}}]},
    {"name":"Deposit","header":1797196801,"fields":[{"name":"account","type":{"kind":"simple","type":"uint","optional":false,"format":256}}]},
    {"name":"Withdraw","header":1797196802,"fields":[{"name":"account","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"amount","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"expiry","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"signature","type":{"kind":"simple","type":"fixed-bytes","optional":false,"format":64}}]},
    {"name":"Redeem","header":1797196803,"fields":[{"name":"worker","type":{"kind":"simple","type":"address","optional":false}},{"name":"cumulative","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"expiry","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"signature","type":{"kind":"simple","type":"fixed-bytes","optional":false,"format":64}}]},
    {"name":"SetCoordinatorKey","header":1797196804,"fields":[{"name":"key","type":{"kind":"simple","type":"uint","optional":false,"format":256}}]},
    {"name":"DepositCredited","header":1797196929,"fields":[{"name":"account","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"amount","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}}]},
    {"name":"AccountState","header":null,"fields":[{"name":"deposited","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"withdrawn","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
    {"name":"Totals","header":null,"fields":[{"name":"deposited","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"withdrawn","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"paid","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"toppedUp","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}}]},
    {"name":"Vault$Data","header":null,"fields":[{"name":"owner","type":{"kind":"simple","type":"address","optional":false}},{"name":"coordinatorKey","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"nonce","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"totalDeposited","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"totalWithdrawn","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"totalPaid","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"totalToppedUp","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"accounts","type":{"kind":"dict","key":"uint","keyFormat":256,"value":"AccountState","valueFormat":"ref"}},{"name":"paid","type":{"kind":"dict","key":"address","value":"uint","valueFormat":"coins"}}]},
]

const Vault_opcodes = {
    "Deposit": 1797196801,
    "Withdraw": 1797196802,
    "Redeem": 1797196803,
    "SetCoordinatorKey": 1797196804,
    "DepositCredited": 1797196929,
}

const Vault_getters: ABIGetter[] = [
    {"name":"totals","methodId":72564,"arguments":[],"returnType":{"kind":"simple","type":"Totals","optional":false}},
    {"name":"paid","methodId":95166,"arguments":[{"name":"worker","type":{"kind":"simple","type":"address","optional":false}}],"returnType":{"kind":"simple","type":"int","optional":false,"format":257}},
    {"name":"coordinatorKey","methodId":103466,"arguments":[],"returnType":{"kind":"simple","type":"int","optional":false,"format":257}},
    {"name":"owner","methodId":83229,"arguments":[],"returnType":{"kind":"simple","type":"address","optional":false}},
    {"name":"accountBalance","methodId":96027,"arguments":[{"name":"account","type":{"kind":"simple","type":"int","optional":false,"format":257}}],"returnType":{"kind":"simple","type":"int","optional":false,"format":257}},
    {"name":"withdrawSeqno","methodId":94805,"arguments":[{"name":"account","type":{"kind":"simple","type":"int","optional":false,"format":257}}],"returnType":{"kind":"simple","type":"int","optional":false,"format":257}},
]

export const Vault_getterMapping: { [key: string]: string } = {
    'totals': 'getTotals',
    'paid': 'getPaid',
    'coordinatorKey': 'getCoordinatorKey',
    'owner': 'getOwner',
    'accountBalance': 'getAccountBalance',
    'withdrawSeqno': 'getWithdrawSeqno',
}

const Vault_receivers: ABIReceiver[] = [
    {"receiver":"internal","message":{"kind":"typed","type":"Deposit"}},
    {"receiver":"internal","message":{"kind":"text"}},
    {"receiver":"internal","message":{"kind":"empty"}},
    {"receiver":"internal","message":{"kind":"typed","type":"Withdraw"}},
    {"receiver":"internal","message":{"kind":"typed","type":"Redeem"}},
    {"receiver":"internal","message":{"kind":"typed","type":"SetCoordinatorKey"}},
]

export const ERR_BAD_SIGNATURE = 1001n;
export const ERR_EXPIRED = 1002n;
export const ERR_NOTHING_TO_PAY = 1003n;
export const ERR_OVER_BALANCE = 1004n;
export const ERR_NOT_OWNER = 1005n;
export const ERR_UNATTRIBUTED = 1006n;
export const ERR_BAD_SEQNO = 1007n;
export const ERR_DEPOSIT_TOO_SMALL = 1008n;
export const ERR_VAULT_INSOLVENT = 1009n;
export const ERR_BAD_AMOUNT = 1010n;
export const ERR_BAD_DESTINATION = 1011n;
export const TAG_WITHDRAW = 1668249393n;
export const TAG_VOUCHER = 1668249137n;
export const DEPOSIT_PREFIX = 7234312000420541498n;
export const MIN_DEPOSIT = 10000000n;
export const HEX_NIB = 6811299366900952671974763824040465167839410862684739061144563765171360567055n;
export const HEX_ONE = 454086624460063511464984254936031011189294057512315937409637584344757371137n;
export const HEX_M16 = 450552876409790643671482431940419874915447411150352389258589821042463539455n;
export const HEX_M32 = 1766820105243087041267848467410591083712559083657179364930612997358944255n;
export const HEX_M64 = 26959946660873538060741835960174461801791452538186943042387869433855n;
export const HEX_M128 = 6277101735386680763495507056286727952657427581105975853055n;
export const HEX_ZERO = 21796157974083048550319244236929488537086114760591164995662604048548353814576n;
export const HEX_76 = 53582221686287494352868142082451659320336698786453280614337234952681369794166n;

export class Vault implements Contract {
    
    public static readonly storageReserve = 0n;
    public static readonly errors = Vault_errors_backward;
    public static readonly opcodes = Vault_opcodes;
    
    static async init(owner: Address, coordinatorKey: bigint, nonce: bigint) {
        return await Vault_init(owner, coordinatorKey, nonce);
    }
    
    static async fromInit(owner: Address, coordinatorKey: bigint, nonce: bigint) {
        const __gen_init = await Vault_init(owner, coordinatorKey, nonce);
        const address = contractAddress(0, __gen_init);
        return new Vault(address, __gen_init);
    }
    
    static fromAddress(address: Address) {
        return new Vault(address);
    }
    
    readonly address: Address; 
    readonly init?: { code: Cell, data: Cell };
    readonly abi: ContractABI = {
        types:  Vault_types,
        getters: Vault_getters,
        receivers: Vault_receivers,
        errors: Vault_errors,
    };
    
    constructor(address: Address, init?: { code: Cell, data: Cell }) {
        this.address = address;
        this.init = init;
    }
    
    async send(provider: ContractProvider, via: Sender, args: { value: bigint, bounce?: boolean| null | undefined }, message: Deposit | string | null | Withdraw | Redeem | SetCoordinatorKey) {
        
        let body: Cell | null = null;
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'Deposit') {
            body = beginCell().store(storeDeposit(message)).endCell();
        }
        if (typeof message === 'string') {
            body = beginCell().storeUint(0, 32).storeStringTail(message).endCell();
        }
        if (message === null) {
            body = new Cell();
        }
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'Withdraw') {
            body = beginCell().store(storeWithdraw(message)).endCell();
        }
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'Redeem') {
            body = beginCell().store(storeRedeem(message)).endCell();
        }
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'SetCoordinatorKey') {
            body = beginCell().store(storeSetCoordinatorKey(message)).endCell();
        }
        if (body === null) { throw new Error('Invalid message type'); }
        
        await provider.internal(via, { ...args, body: body });
        
    }
    
    async getTotals(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('totals', builder.build())).stack;
        const result = loadGetterTupleTotals(source);
        return result;
    }
    
    async getPaid(provider: ContractProvider, worker: Address) {
        const builder = new TupleBuilder();
        builder.writeAddress(worker);
        const source = (await provider.get('paid', builder.build())).stack;
        const result = source.readBigNumber();
        return result;
    }
    
    async getCoordinatorKey(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('coordinatorKey', builder.build())).stack;
        const result = source.readBigNumber();
        return result;
    }
    
    async getOwner(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('owner', builder.build())).stack;
        const result = source.readAddress();
        return result;
    }
    
    async getAccountBalance(provider: ContractProvider, account: bigint) {
        const builder = new TupleBuilder();
        builder.writeNumber(account);
        const source = (await provider.get('accountBalance', builder.build())).stack;
        const result = source.readBigNumber();
        return result;
    }
    
    async getWithdrawSeqno(provider: ContractProvider, account: bigint) {
        const builder = new TupleBuilder();
        builder.writeNumber(account);
        const source = (await provider.get('withdrawSeqno', builder.build())).stack;
        const result = source.readBigNumber();
        return result;
    }
    
}